using System.Buffers.Binary;
using Microsoft.Extensions.Time.Testing;
using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A stack of two shards (docs/design.md "Several cores") against a one-queue peer, pumped on a fake clock. The peer's
/// packets reach our queues the way a test's steering function says, as the kernel's flow hash picks a TUN queue: each
/// connection must live on one shard only, and a packet that arrives on the other queue must still reach it.
/// </summary>
public sealed class ShardTests
{
    private static readonly Ipv4Address Ours = new(10, 0, 0, 2);
    private static readonly Ipv4Address Peers = new(10, 0, 0, 1);

    /// <summary>The queue the peer's packet goes to, by the peer's port (its source port): even to 0, odd to 1.</summary>
    private static int ByPeerPortParity(ReadOnlySpan<byte> packet) => PeerPort(packet) % 2;

    private static int PeerPort(ReadOnlySpan<byte> packet) => BinaryPrimitives.ReadUInt16BigEndian(packet[((packet[0] & 0x0F) * 4)..]);

    [Fact]
    public async Task Connections_from_the_peer_live_on_the_shard_their_queue_delivers_to_and_all_of_them_work()
    {
        await using var net = new TwoQueues(ByPeerPortParity);
        UserTcpListener listener = net.Ours.Listen(80);
        var clients = new List<UserTcpConnection>();
        for (int i = 0; i < 16; i++) clients.Add(net.Peer.Connect(new IpEndpoint(Ours, 80)));
        net.Pump();
        var accepted = new List<UserTcpConnection>();
        while (listener.TryAccept(out UserTcpConnection? connection)) accepted.Add(connection);
        Assert.Equal(16, accepted.Count);

        // Each connection is on the shard whose queue its packets came by, and only that shard's engine holds it.
        Assert.All(accepted, c => Assert.Equal(c.RemoteEndpoint.Port % 2, c.Shard.Index));
        Assert.Contains(accepted, c => c.Shard.Index == 0);
        Assert.Contains(accepted, c => c.Shard.Index == 1);
        IReadOnlyList<StackShard> shards = net.Ours.Shards;
        Assert.NotSame(shards[0].Engine, shards[1].Engine);
        Assert.True(shards[0].Gate != shards[1].Gate); // no lock shared: each shard has its own engine lock
        foreach (UserTcpConnection c in accepted)
        {
            var id = new FourTuple(c.LocalEndpoint, c.RemoteEndpoint);
            Assert.Single(shards, s => s.Engine.Connections.Any(t => t.Id == id));
        }

        await EchoEach(net, clients, [.. clients.Select(c => accepted.Single(a => a.RemoteEndpoint == c.LocalEndpoint))]);
        Assert.Equal(0, net.Ours.PacketsHandedOver); // the queues delivered every packet to its owner
        Assert.Equal(16, net.Ours.Counters[MibCounter.TcpPassiveOpens]); // the stack's counters add up the shards'
        Assert.Equal(16, net.Ours.Snapshot().Count);
        ConnectionSnapshot listening = Assert.Single(net.Ours.SnapshotListeners());
        Assert.Equal(0, listening.ReceiveQueue);
    }

    [Fact]
    public async Task A_packet_that_arrives_on_the_other_queue_is_handed_to_the_shard_that_owns_its_connection()
    {
        int queue = 0;
        await using var net = new TwoQueues(_ => queue);
        UserTcpListener listener = net.Ours.Listen(80);
        UserTcpConnection client = net.Peer.Connect(new IpEndpoint(Ours, 80));
        net.Pump();
        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        Assert.Equal(0, server.Shard.Index);

        queue = 1; // the kernel's flow entry expired: its packets now come by the other queue
        await EchoEach(net, [client], [server]);
        Assert.True(net.Ours.PacketsHandedOver > 0);
        Assert.Equal(0, server.Shard.Index);
        Assert.Empty(net.Ours.Shards[1].Engine.Connections); // shard 1 only passed them on
        Assert.Equal(0, net.Ours.Shards[1].Engine.Counters.ResetsSent);
    }

    [Fact]
    public async Task Connections_we_open_take_turns_over_the_shards_and_their_answers_reach_them_by_either_queue()
    {
        // The peer answers on queue 0 always: a connection of shard 1 gets every answer handed over.
        await using var net = new TwoQueues(_ => 0);
        UserTcpListener listener = net.Peer.Listen(7);
        var ours = new List<UserTcpConnection>();
        for (int i = 0; i < 4; i++) ours.Add(net.Ours.Connect(new IpEndpoint(Peers, 7)));
        Assert.Equal([0, 1, 0, 1], ours.Select(c => c.Shard.Index));
        net.Pump();
        Assert.All(ours, c => Assert.Equal(TcpState.Established, c.State));
        var theirs = new List<UserTcpConnection>();
        while (listener.TryAccept(out UserTcpConnection? connection)) theirs.Add(connection);
        Assert.Equal(4, theirs.Count);
        theirs = [.. ours.Select(o => theirs.Single(t => t.RemoteEndpoint == o.LocalEndpoint))];

        await EchoEach(net, ours, theirs);
        Assert.True(net.Ours.PacketsHandedOver > 0);
        // Ephemeral ports are unique over the stack, not per shard.
        Assert.Equal(4, ours.Select(c => c.LocalEndpoint.Port).Distinct().Count());
    }

    [Fact]
    public async Task A_connect_given_its_port_goes_to_the_shard_whose_time_wait_record_holds_that_4_tuple_and_takes_it_over()
    {
        await using var net = new TwoQueues(_ => 0);
        UserTcpListener listener = net.Peer.Listen(7);
        UserTcpConnection onShard0 = net.Ours.Connect(new IpEndpoint(Peers, 7));
        UserTcpConnection onShard1 = net.Ours.Connect(new IpEndpoint(Peers, 7));
        Assert.Equal([0, 1], [onShard0.Shard.Index, onShard1.Shard.Index]);
        net.Pump();
        var accepted = new List<UserTcpConnection>();
        while (listener.TryAccept(out UserTcpConnection? connection)) accepted.Add(connection);
        UserTcpConnection theirs = accepted.Single(c => c.RemoteEndpoint == onShard1.LocalEndpoint);

        // Shard 1's connection closes first and leaves a TIME-WAIT record there (timestamps on, as by default).
        await onShard1.CloseAsync();
        net.Pump();
        await theirs.CloseAsync();
        net.Pump();
        Assert.Single(net.Ours.Shards[1].Engine.TimeWaits);

        // Taking turns would give the next connect() to shard 0, which does not hold the 4-tuple (TcpEngine.MayRecycle).
        UserTcpConnection again = net.Ours.Connect(new IpEndpoint(Peers, 7), new UserTcpConnectionOptions { LocalPort = onShard1.LocalEndpoint.Port });
        Assert.Equal(1, again.Shard.Index);
        net.Pump();
        Assert.Equal(TcpState.Established, again.State);
        Assert.Empty(net.Ours.Shards[1].Engine.TimeWaits);
        Assert.Equal(1, net.Ours.Counters[MibCounter.TcpExtTWRecycled]);
    }

    [Fact]
    public async Task A_listener_accepts_from_every_shard_and_a_waiting_accept_is_served_by_whichever_gets_the_connection()
    {
        await using var net = new TwoQueues(ByPeerPortParity);
        UserTcpListener listener = net.Ours.Listen(80);
        ValueTask<UserTcpConnection> first = listener.AcceptAsync();
        ValueTask<UserTcpConnection> second = listener.AcceptAsync();
        Assert.False(first.IsCompleted);
        net.Peer.Connect(new IpEndpoint(Ours, 80));
        net.Peer.Connect(new IpEndpoint(Ours, 80));
        net.Pump();
        Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully);
        Assert.NotSame(await first, await second);

        listener.Dispose();
        Assert.All(net.Ours.Shards, s => Assert.Empty(s.Listeners));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => listener.AcceptAsync().AsTask());
    }

    [Fact]
    public async Task The_shards_share_the_stacks_secrets_so_a_4_tuple_gets_one_isn_whichever_shard_opens_it()
    {
        await using var net = new TwoQueues(ByPeerPortParity, seeded: false); // secrets from the system's generator
        IReadOnlyList<StackShard> shards = net.Ours.Shards;
        var remote = new IpEndpoint(Peers, 9);
        SeqNumber IssOn(StackShard shard)
        {
            shard.Enter();
            try
            {
                TcpConnection tcb = shard.Engine.Connect(remote, 40000);
                tcb.Abort();
                return tcb.Iss;
            }
            finally
            {
                shard.Exit();
            }
        }
        SeqNumber a = IssOn(shards[0]), b = IssOn(shards[1]);
        // ISN = F(4-tuple, secret) + a 4 µs clock that did not move (RFC 6528 §3): equal only with one secret.
        Assert.Equal(a, b);
    }

    private static async Task EchoEach(TwoQueues net, List<UserTcpConnection> senders, List<UserTcpConnection> receivers)
    {
        for (int i = 0; i < senders.Count; i++)
        {
            byte[] message = BitConverter.GetBytes(i * 7919);
            await senders[i].WriteAsync(message);
            net.Pump();
            byte[] got = new byte[16];
            ValueTask<int> read = receivers[i].ReadAsync(got);
            net.Pump();
            Assert.True(read.IsCompletedSuccessfully, $"connection {i} got nothing");
            Assert.Equal(message, got[..await read]);
            await receivers[i].WriteAsync(got.AsMemory(0, message.Length));
            net.Pump();
            ValueTask<int> back = senders[i].ReadAsync(got);
            net.Pump();
            Assert.True(back.IsCompletedSuccessfully, $"connection {i} got no answer");
            Assert.Equal(message, got[..await back]);
        }
    }

    /// <summary>Our stack on two queues, the peer on one; the peer's packets go to the queue <c>steer</c> names.</summary>
    private sealed class TwoQueues : IAsyncDisposable
    {
        public TwoQueues(Func<ReadOnlySpan<byte>, int> steer, bool seeded = true)
        {
            MemoryPacketPipe q0 = MemoryPacketPipe.Create(), q1 = MemoryPacketPipe.Create();
            var tcp = new TcpConfig { RandomSeed = seeded ? 1 : null };
            Ours = NetStack.CreateQueues([q0.A, q1.A], new NetStackOptions { Address = Ours_, Tcp = tcp }, timeProvider: Time);
            Peer = NetStack.Create(new SteeringDevice([q0.B, q1.B], steer), new NetStackOptions { Address = Peers, Tcp = new TcpConfig { RandomSeed = 2 } }, timeProvider: Time);
        }

        private static Ipv4Address Ours_ => ShardTests.Ours;
        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        public NetStack Ours { get; }
        public NetStack Peer { get; }

        public void Pump()
        {
            for (int round = 0; round < 10_000; round++)
            {
                if (Ours.Pump() + Peer.Pump() == 0) return;
            }
            throw new InvalidOperationException("the stacks kept exchanging packets");
        }

        public async ValueTask DisposeAsync()
        {
            await Ours.DisposeAsync();
            await Peer.DisposeAsync();
        }
    }

    /// <summary>The peer's one device: reads whatever either queue carried, writes each packet to the queue <c>steer</c> names.</summary>
    private sealed class SteeringDevice(IPacketDevice[] queues, Func<ReadOnlySpan<byte>, int> steer) : IPacketDevice
    {
        public int Mtu => queues[0].Mtu;
        public bool WaitReadable(TimeSpan timeout) => true;

        public bool TryRead(Span<byte> packet, out int length)
        {
            foreach (IPacketDevice queue in queues)
            {
                if (queue.TryRead(packet, out length)) return true;
            }
            length = 0;
            return false;
        }

        public void Write(ReadOnlySpan<byte> packet) => queues[steer(packet)].Write(packet);

        public void Dispose()
        {
            foreach (IPacketDevice queue in queues) queue.Dispose();
        }
    }
}
