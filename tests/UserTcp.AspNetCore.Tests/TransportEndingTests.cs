using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;
using UserTcp.Testing;

namespace UserTcp.AspNetCore.Tests;

/// <summary>The transport's connection driven as Kestrel drives it, without Kestrel: endings that race the client's.</summary>
public sealed class TransportEndingTests
{
    private sealed class RawPair : StackPair
    {
        protected override ValueTask StopServerAsync() => default;
    }

    [Fact]
    public async Task Kestrel_closing_a_connection_the_client_reset_while_its_input_was_full_neither_throws_nor_logs_an_error()
    {
        // The receive loop waits for Kestrel to read (the input pipe is full), so it has not seen the client's RST when
        // Kestrel ends the connection: Abort(null) (the client is done) or the end of its output. Half-closing a connection
        // that is already CLOSED is ENOTCONN; that must mean "nothing left to close", not an exception into Kestrel.
        await using var pair = new RawPair();
        var log = new AppLog();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(log).SetMinimumLevel(LogLevel.Debug));
        var factory = new UserTcpTransportFactory(pair.Server, new UserTcpTransportOptions { MaxReadBufferSize = 16 }, loggerFactory);
        await using IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.Parse(StackPair.ServerAddress.ToString()), 80), pair.Token);
        ValueTask<ConnectionContext?> accepting = listener.AcceptAsync(pair.Token);
        await using UserTcpConnection client = await pair.Client.ConnectAsync(new IpEndpoint(StackPair.ServerAddress, 80), pair.Token);
        ConnectionContext context = (await accepting)!;
        IUserTcpConnectionFeature transport = context.Features.Get<IUserTcpConnectionFeature>()!;

        await client.WriteAsync(new byte[100], pair.Token);
        await pair.EventuallyAsync(() => transport.BytesReceived == 100, "the receive loop read the request and paused");
        client.Abort();
        await pair.EventuallyAsync(() => transport.Connection.State == TcpState.Closed, "the client's RST arrived");

        context.Abort(null!); // as Kestrel's Http1Connection does when the client has gone and nothing went wrong
        await context.Transport.Output.CompleteAsync();
        await context.DisposeAsync().AsTask().WaitAsync(pair.Token);

        Assert.True(context.ConnectionClosed.IsCancellationRequested);
        Assert.DoesNotContain(log.Entries, e => e.Category == "UserTcp.AspNetCore" && e.Level >= LogLevel.Error);
    }
}
