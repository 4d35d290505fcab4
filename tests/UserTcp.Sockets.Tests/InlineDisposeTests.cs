using UserTcp.Engine;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A stream disposed synchronously by code the stack runs inline (InlineCompletions) cannot wait for its linger: the
/// FIN's acknowledgment would be read by the very thread that waits. It closes and returns; the FIN goes on.
/// </summary>
public sealed class InlineDisposeTests
{
    [Fact]
    public async Task A_stream_with_linger_disposed_inside_an_inline_completion_closes_without_stalling_the_stack()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync(
            clientOptions: new UserTcpConnectionOptions { InlineCompletions = true, Linger = TimeSpan.FromSeconds(30) });
        Stream stream = client.Stream;
        Thread? ranOn = null;
        Task application = ReadOnceThenDisposeAsync();

        async Task ReadOnceThenDisposeAsync()
        {
            await stream.ReadAsync(new byte[16]).ConfigureAwait(false);
            ranOn = Thread.CurrentThread;
            stream.Dispose(); // synchronous, on the thread that delivered the data
        }

        await server.WriteAsync("hello"u8.ToArray());
        // The pass that delivers the data runs the continuation inline; bounded, so a stall fails instead of hanging.
        Thread? pumpedOn = null;
        Task pumped = Task.Run(() =>
        {
            pumpedOn = Thread.CurrentThread;
            net.Pump();
        });
        Assert.True(await Task.WhenAny(pumped, Task.Delay(TimeSpan.FromSeconds(10))) == pumped,
            "the pass that ran the inline Dispose did not return: the stack stalled on the linger");
        Assert.True(application.IsCompletedSuccessfully);
        Assert.Same(pumpedOn, ranOn); // inline: on the thread of the pass, which a blocking Dispose would stall
        Assert.Equal(TcpState.FinWait1, client.State); // the close was made: the FIN is out

        net.RunUntil(() => client.State == TcpState.FinWait2, TimeSpan.FromSeconds(1)); // the peer's (delayed) ACK of the FIN, no wait on anyone's thread
    }
}
