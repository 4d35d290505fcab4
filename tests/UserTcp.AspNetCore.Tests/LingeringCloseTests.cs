using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>
/// The transport's close lingers (RFC 9112 §9.6): after its FIN it reads and drops until the client's FIN, so data the
/// client sent after the server's last read never turns the close into a RST that could destroy the response.
/// </summary>
public sealed class LingeringCloseTests
{
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task Requests_the_client_sends_after_the_servers_FIN_are_dropped_not_answered_with_RST()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        await using UserTcpConnection raw = await pair.Client.ConnectAsync(new IpEndpoint(KestrelPair.ServerAddress, KestrelPair.Port), pair.Token);

        // The server answers and closes (FIN); this client, not listening, sends two more requests into the half-closed
        // connection before it closes too. Kestrel reads none of them.
        await raw.WriteAsync(Encoding.ASCII.GetBytes("GET /bytes/100000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), pair.Token);
        byte[] response = await ReadToEndAsync(raw, pair.Token);
        foreach (string late in new[] { "GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /bytes/6 HTTP/1.1\r\nHost: x\r\n\r\n" })
        {
            await raw.WriteAsync(Encoding.ASCII.GetBytes(late), pair.Token);
            await raw.FlushAsync(pair.Token); // acknowledged: the server's stack has it
        }
        await raw.CloseAsync(pair.Token);

        string text = Encoding.ASCII.GetString(response);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text, StringComparison.Ordinal);
        Assert.Equal(100_000, text.Length - text.IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4);
        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        await pair.EventuallyAsync(() => pair.ServerEvents.StatesOf(connection).Contains(TcpState.TimeWait), "the server reached TIME-WAIT");
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Rst));
        Assert.Equal(0, pair.ClientEvents.Events.Count(e => e.Kind == TcpEventKind.SegmentIn && (e.Segment.Flags & TcpFlags.Rst) != 0));
    }

    [Fact]
    public async Task A_client_that_half_closes_after_its_request_still_gets_the_whole_response()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        await using UserTcpConnection raw = await pair.Client.ConnectAsync(new IpEndpoint(KestrelPair.ServerAddress, KestrelPair.Port), pair.Token);

        // As `printf 'GET ...' | nc -N` does: the request, then a FIN (RFC 9293 §3.6: the client still reads).
        await raw.WriteAsync(Encoding.ASCII.GetBytes("GET /bytes/300000 HTTP/1.1\r\nHost: x\r\n\r\n"), pair.Token);
        raw.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        string response = Encoding.ASCII.GetString(await ReadToEndAsync(raw, pair.Token));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
        Assert.Equal(300_000, response.Length - response.IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4);
        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        await pair.EventuallyAsync(() => pair.ServerEvents.StatesOf(connection) is [.., TcpState.Closed], "the server's side closed");
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Rst));
        Assert.Contains(TcpState.CloseWait, pair.ServerEvents.StatesOf(connection));
    }

    [Fact]
    public async Task A_client_that_never_closes_is_let_go_after_the_linger_time_and_the_byte_counts_are_final()
    {
        // Times are the server stack's (NetStack.Now, the clock its events carry). The linger runs from the transport's
        // shutdown, the instant the server enters FIN-WAIT-1 (RFC 9293 §3.10.4), not from when the FIN left or this client
        // saw it: a loaded machine can delay either by more than the linger.
        var closed = new TaskCompletionSource<(long Received, long Sent, TimeSpan At)>(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelPair? started = null;
        await using KestrelPair pair = await KestrelPair.StartAsync(
            KestrelTransportTests.MapBytes,
            transport: t => t.LingerTimeout = Linger,
            kestrel: k => k.ConfigureEndpointDefaults(listen => listen.Use(next => context =>
            {
                context.Features.Get<IUserTcpConnectionFeature>()!.OnClosed(f => closed.TrySetResult((f.BytesReceived, f.BytesSent, started!.Server.Now)));
                return next(context);
            })));
        started = pair;
        await using UserTcpConnection raw = await pair.Client.ConnectAsync(new IpEndpoint(KestrelPair.ServerAddress, KestrelPair.Port), pair.Token);
        byte[] request = Encoding.ASCII.GetBytes("GET /bytes/20000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        await raw.WriteAsync(request, pair.Token);
        byte[] response = await ReadToEndAsync(raw, pair.Token); // ends with the server's FIN; this side stays open
        (long received, long sent, TimeSpan closedAt) = await closed.Task.WaitAsync(pair.Token);
        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        TimeSpan shutdownAt = pair.ServerEvents.Events.First(
            e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection && e.NewState == TcpState.FinWait1).Time;

        Assert.True(closedAt - shutdownAt >= Linger - TimeSpan.FromMilliseconds(50), $"let go {(closedAt - shutdownAt).TotalMilliseconds} ms after the shutdown");
        Assert.Equal(request.Length, received);
        Assert.Equal(response.Length, sent);
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Rst));
    }

    private static async Task<byte[]> ReadToEndAsync(UserTcpConnection connection, CancellationToken token)
    {
        using var all = new MemoryStream();
        await connection.Stream.CopyToAsync(all, token); // until the server's FIN; the stream stays open
        return all.ToArray();
    }
}
