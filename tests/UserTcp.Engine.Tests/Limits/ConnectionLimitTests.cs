using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.LimitFixtures;

namespace UserTcp.Engine.Tests;

/// <summary>The connection and TIME-WAIT caps: what each drops, that it is counted, and that the stack recovers.</summary>
public class ConnectionLimitTests
{
    [Fact]
    public void Past_max_time_wait_a_connection_closes_after_its_last_ack_and_is_counted()
    {
        var h = new Harness(new TcpConfig { MaxTimeWait = 2 });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        TcpConnection[] connections = [.. Enumerable.Range(0, 4).Select(i => Open(h, listener, PortOf(i)))];
        for (int i = 0; i < 3; i++) CloseFirst(h, connections[i], PortOf(i));
        h.ExpectNothing();

        Assert.Equal(2, h.Engine.TimeWaits.Count);
        Assert.Equal([TcpState.TimeWait, TcpState.TimeWait, TcpState.Closed], connections[..3].Select(c => c.State));
        Assert.Equal(TcpError.None, connections[2].Error); // a clean close: its FIN and the peer's were acknowledged
        Assert.Equal(TcpCause.TimeWaitOverflow, h.Log.Of(TcpEventKind.StateChanged).Last().Cause);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPTimeWaitOverflow]);
        Assert.Single(h.Engine.Connections); // only the fourth, still open
        Assert.Single(h.Log.Of(TcpEventKind.Warning), e => e.Cause == TcpCause.TimeWaitOverflow);

        // The overflowed 4-tuple is CLOSED: a late retransmitted FIN gets a RST, as on Linux.
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502, sourcePort: PortOf(2));
        h.Expect(TcpFlags.Rst, Isn + 2);

        // Once 2MSL frees a record, TIME-WAIT has room again.
        h.Advance(h.Config.TimeWait);
        Assert.Empty(h.Engine.TimeWaits);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTW]);
        CloseFirst(h, connections[3], PortOf(3));
        Assert.Equal(TcpState.TimeWait, connections[3].State);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPTimeWaitOverflow]);
    }

    [Fact]
    public void Past_max_connections_a_syn_is_dropped_unanswered_and_counted_and_admitted_once_one_closes()
    {
        var h = new Harness(new TcpConfig { MaxConnections = 2 });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        TcpConnection first = Open(h, listener, PortOf(0));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: PortOf(1)); // half-open counts too
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);

        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: PortOf(2));
        h.ExpectNothing(); // as a full listen queue: the peer's SYN retransmission will try again
        Assert.Equal(2, h.Engine.Connections.Count);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.ConnectionLimit));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtListenDrops]);
        Assert.Contains(h.Engine.Counters.Snapshot(), kv => kv.Key == "UserTcpDropConnectionLimit" && kv.Value == 1);
        Assert.Single(h.Log.Of(TcpEventKind.Warning), e => e.Cause == TcpCause.ConnectionLimit);

        // A connect is refused as Linux refuses one without memory: ENOBUFS, nothing sent.
        var e = Assert.Throws<TcpException>(() => h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, 9)));
        Assert.Equal(TcpError.NoBufferSpace, e.Error);
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpConnectsRefusedByLimit]);
        h.Poll();
        h.ExpectNothing();

        // An abort frees a place; the SYN's retransmission is then answered.
        first.Abort();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: PortOf(2));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.ConnectionLimit));
    }

    [Fact]
    public void Past_max_connections_the_ack_of_a_syn_cookie_is_dropped_and_counted()
    {
        var h = new Harness(new TcpConfig { MaxConnections = 1, SynCookies = SynCookieMode.Always });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: PortOf(0));
        Sent cookieSynAck = h.Next(); // a cookie costs no connection
        Assert.Empty(h.Engine.Connections);
        h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, 9)); // now the stack is full
        h.Poll();
        h.DrainSent();

        h.Send(TcpFlags.Ack, PeerIsn + 1, cookieSynAck.Seq + 1, window: 502, sourcePort: PortOf(0));
        h.ExpectNothing(); // dropped as an ACK that finds the accept queue full: the peer's data retransmission retries
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesRecv]);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.ConnectionLimit));
        Assert.False(listener.TryAccept(out _));
        Assert.Single(h.Engine.Connections);
    }

    [Fact]
    public void Buffer_sizes_beyond_the_stacks_maximum_are_cut_and_counted()
    {
        var h = new Harness(new TcpConfig { SendBufferSize = 8192, ReceiveBufferSize = 8192, MaxReceiveBufferSize = 100_000, MaxSendBufferSize = 50_000 });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, connectionConfig: h.Config with { ReceiveBufferSize = 1 << 20, SendBufferSize = 1 << 20 });
        TcpConnection c = Open(h, listener, PortOf(0));
        Assert.Equal(50_000, c.SendBufferFree);
        Assert.Equal(50_000, c.Send(new byte[1 << 20]));
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpBufferSizesCapped]);
        // Within the maxima nothing is cut or counted.
        h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, 9), config: h.Config with { SendBufferSize = 50_000, ReceiveBufferSize = 100_000 });
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpBufferSizesCapped]);
    }
}
