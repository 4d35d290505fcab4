using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// An AcceptAsync already waiting on a Fast Open listener (RFC 7413 §4.2.2) gets the connection a SYN with a valid cookie
/// makes, at that SYN, in SYN-RECEIVED with the SYN's data readable, as Linux's tcp_conn_request puts it in the accept
/// queue — not once the handshake's ACK arrives (the runtime's shard serves waiting accepts on that SYN-RECEIVED too).
/// </summary>
public sealed class FastOpenAcceptTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);
    private static readonly UserTcpConnectionOptions FastOpenConnect = new() { FastOpenConnect = true };

    [Fact]
    public async Task A_waiting_accept_gets_the_fast_open_connection_at_its_syn_before_the_handshakes_ack()
    {
        var tcp = new TcpConfig { FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4") };
        await using var net = new PumpedPair(tcp);
        using UserTcpListener listener = net.Server.Listen(80, options: new UserTcpConnectionOptions { FastOpenQueueLength = 16 });

        // A first connection fetches the cookie (the SYN asks for one), as a kernel client's first connection does.
        UserTcpConnection first = await ConnectedAsync(net);
        Assert.True(listener.TryAccept(out UserTcpConnection? firstServer));
        await first.DisposeAsync();
        await firstServer!.DisposeAsync();
        net.Pump();

        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection client = await net.Client.ConnectAsync(Server80, FastOpenConnect);
        ValueTask write = client.WriteAsync("hello"u8.ToArray());
        net.Client.Pump(); // out goes the SYN with the data
        Assert.False(accepted.IsCompleted);
        Assert.Equal(1, net.Server.Pump()); // the SYN arrives; the SYN-ACK goes out, and the client has not answered it
        Assert.True(accepted.IsCompletedSuccessfully, "the waiting accept did not get the Fast Open connection at its SYN");
        UserTcpConnection server = await accepted;
        Assert.Equal(TcpState.SynReceived, server.State);
        byte[] buffer = new byte[16];
        Assert.Equal(5, server.Receive(buffer, out SocketError error));
        Assert.Equal(SocketError.Success, error);
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);

        net.Pump(); // the handshake's ACK: the client's write completes, the server's connection is established
        Assert.True(write.IsCompletedSuccessfully);
        Assert.Equal(TcpState.Established, server.State);
        Assert.False(listener.TryAccept(out _)); // handed out once, not again at the ACK
        await client.DisposeAsync();
        await server.DisposeAsync();
    }

    private static async Task<UserTcpConnection> ConnectedAsync(PumpedPair net)
    {
        Task<UserTcpConnection> connecting = net.Client.ConnectAsync(Server80, FastOpenConnect);
        net.Pump();
        return await connecting;
    }
}
