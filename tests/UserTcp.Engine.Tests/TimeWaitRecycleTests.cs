using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A connect() from a TIME-WAIT record's own 4-tuple (Linux's tcp_twsk_unique, as the lab's time-wait-port shows it): with
/// the peer's timestamps seen, the new connection takes TIME-WAIT over, numbered SND.NXT + 65537; without them the record
/// holds the 4-tuple, and an ephemeral port is never chosen from a record.
/// </summary>
public class TimeWaitRecycleTests
{
    private static readonly IpEndpoint Peer = new(Harness.PeerAddress, Harness.PeerPort);

    private static Harness TimeWait(bool timestamps, TcpConfig? config = null)
    {
        Harness h = TimestampTests.TimeWait(timestamps, config).H;
        Assert.Single(h.Engine.TimeWaits);
        return h;
    }

    [Fact]
    public void With_timestamps_a_connect_from_the_same_port_takes_time_wait_over_numbered_beyond_it()
    {
        Harness h = TimeWait(timestamps: true);
        h.AdvanceTo(S(1));

        TcpConnection fresh = h.Engine.Connect(Peer, Harness.LocalPort);
        h.Poll();

        h.Expect(TcpFlags.Syn, unchecked(Our(1) + 65535 + 2)); // Linux: write_seq = tw_snd_nxt + 65535 + 2
        h.ExpectNothing();
        Assert.Equal(TcpState.SynSent, fresh.State);
        Assert.Empty(h.Engine.TimeWaits);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTWRecycled]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTW]); // ended by the takeover, not by 2MSL
        TcpEvent ended = Assert.Single(h.Log.Events, e => e is { Kind: TcpEventKind.StateChanged, OldState: TcpState.TimeWait });
        Assert.Equal((TcpState.Closed, TcpCause.TimeWaitRecycled), (ended.NewState, ended.Cause));

        // The record's 2MSL timer is gone with it: nothing fires when it would have.
        h.AdvanceTo(S(1) + h.Engine.Config.TimeWait + S(1));
        Assert.DoesNotContain(h.Log.Events, e => e is { Kind: TcpEventKind.TimerFired, Timer: TcpTimer.TimeWait });
    }

    [Fact]
    public void Without_timestamps_the_record_holds_its_4_tuple()
    {
        Harness h = TimeWait(timestamps: false);
        h.AdvanceTo(S(1));

        TcpException refused = Assert.Throws<TcpException>(() => h.Engine.Connect(Peer, Harness.LocalPort));

        Assert.Equal(TcpError.AddressInUse, refused.Error);
        h.Poll();
        h.ExpectNothing();
        Assert.Single(h.Engine.TimeWaits);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTWRecycled]);
    }

    [Fact]
    public void Our_own_timestamps_off_holds_the_4_tuple_too()
    {
        // The record saw the peer's timestamps, but the new connection would send none: PAWS could not tell the two apart.
        Harness h = TimeWait(timestamps: true);
        h.AdvanceTo(S(1));

        TcpException refused = Assert.Throws<TcpException>(() => h.Engine.Connect(Peer, Harness.LocalPort, h.Engine.Config with { Timestamps = false }));

        Assert.Equal(TcpError.AddressInUse, refused.Error);
        Assert.Single(h.Engine.TimeWaits);
    }

    [Fact]
    public void An_ephemeral_port_is_never_taken_from_a_record()
    {
        // The only ephemeral port is the record's: a connect() that leaves the port to the stack finds none free.
        TcpConfig onePort = new() { EphemeralPortFirst = Harness.LocalPort, EphemeralPortLast = Harness.LocalPort };
        Harness h = TimeWait(timestamps: true, onePort);
        h.AdvanceTo(S(1));

        TcpException refused = Assert.Throws<TcpException>(() => h.Engine.Connect(Peer));

        Assert.Equal(TcpError.AddressInUse, refused.Error);
        Assert.Single(h.Engine.TimeWaits);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTWRecycled]);
    }
}
