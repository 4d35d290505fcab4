using System.Net.Sockets;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>Defects found reviewing the socket layer line by line: each test failed before its fix.</summary>
public sealed class SocketReviewTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);

    [Fact]
    public async Task A_connection_reset_while_it_waited_in_the_accept_queue_is_not_held_by_the_stack_once_accepted()
    {
        // Linux's accept() still hands out one reset after its data arrived; nothing will ever change it again, so the
        // shard's table (where engine events find pending calls) must not keep it: no later event would remove it.
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        UserTcpConnection client = net.Client.Connect(Server80);
        net.Pump();
        Assert.Equal(3, client.Send("abc"u8, out _));
        net.Pump();
        client.Abort();
        net.Pump();

        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        Assert.Equal(TcpState.Closed, server.State);
        Assert.Empty(net.Server.ShardAt(0).HeldConnections);
        byte[] buffer = new byte[10];
        Assert.Equal(3, server.Receive(buffer, out SocketError error)); // what arrived before the reset is still read
        Assert.Equal(SocketError.Success, error);
        await server.CloseAsync();
        net.Pump();
        Assert.Empty(net.Server.ShardAt(0).HeldConnections);
    }
}
