using UserTcp.Wire;
using static UserTcp.Engine.Tests.DubiousDsackTests; // Ack, PlainMss: the same connection without timestamps
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// When a D-SACK widens RACK's reordering window. RFC 8985 §6.2 step 4 (the default): on the ACK that carries it, once
/// per round trip of SND.NXT. Linux's rules (tcp_rack_update_reo_wnd): the D-SACK is recorded (rack.dsack_seen) and
/// widens on the first ACK that delivers data, unless the newest data it delivered left before the last widening (less
/// than a round trip since, rs->prior_delivered before rack.last_delivered), which drops it.
/// tests/scripts/sack/rack-linux-dsack-widens-window-on-next-delivery.pkt shows Linux doing so.
/// </summary>
public class RackDsackWideningTests
{
    private static readonly TimeSpan MinRtt = Ms(100), Srtt = Ms(400);

    private static TimeSpan Window(Rack rack, bool linuxRules) => rack.ReorderWindow(false, 0, MinRtt, Srtt, linuxRules);

    /// <summary>One ACK: delivers the segments that left as these transmissions (none: a D-SACK alone), then step 4.</summary>
    private static void Take(Rack rack, bool dsack, bool linuxRules, uint transmissions, params uint[] delivered)
    {
        rack.BeginAck();
        foreach (uint order in delivered)
        {
            var segment = new SentSegment { Start = new SeqNumber(order * 1000), End = new SeqNumber(order * 1000 + 1000), SentAt = Ms(order), SendOrder = order };
            rack.OnDelivered(segment, Ms(1000), MinRtt, echoPredatesSend: false, 1000, linuxRules);
        }
        rack.EndDeliveries(1000, linuxRules, default);
        rack.OnAck(dsack, new SeqNumber(0), new SeqNumber(100_000), linuxRules, transmissions);
    }

    [Fact]
    public void Under_rfc8985_a_dsack_widens_on_the_ack_that_carries_it()
    {
        var rack = new Rack();
        Take(rack, dsack: true, linuxRules: false, transmissions: 10);
        Assert.Equal(Ms(50), Window(rack, false));
    }

    [Fact]
    public void Under_linuxs_rules_a_dsack_waits_for_an_ack_that_delivers_data()
    {
        var rack = new Rack();
        Take(rack, dsack: true, linuxRules: true, transmissions: 10); // delivers nothing
        Assert.Equal(Ms(25), Window(rack, true));
        Take(rack, dsack: false, linuxRules: true, transmissions: 10); // nor this one
        Assert.Equal(Ms(25), Window(rack, true));
        Take(rack, dsack: false, linuxRules: true, transmissions: 10, delivered: 3);
        Assert.Equal(Ms(50), Window(rack, true));
        Take(rack, dsack: false, linuxRules: true, transmissions: 11, delivered: 4); // consumed: once only
        Assert.Equal(Ms(50), Window(rack, true));
    }

    [Fact]
    public void Under_linuxs_rules_data_sent_before_the_last_widening_drops_the_dsack_and_later_data_takes_the_next()
    {
        var rack = new Rack();
        Take(rack, dsack: true, linuxRules: true, transmissions: 10, delivered: 2); // widens at once: after transmission 10
        Assert.Equal(Ms(50), Window(rack, true));
        Take(rack, dsack: true, linuxRules: true, transmissions: 12, delivered: 9); // left before the widening: dropped
        Assert.Equal(Ms(50), Window(rack, true));
        Take(rack, dsack: false, linuxRules: true, transmissions: 12, delivered: 11); // nothing left to take
        Assert.Equal(Ms(50), Window(rack, true));
        // A D-SACK, then a SACK of data sent after the widening: the round is over however low SND.UNA is (the RFC's
        // round would wait for SND.UNA to pass SND.NXT of the widening).
        Take(rack, dsack: true, linuxRules: true, transmissions: 12);
        Take(rack, dsack: false, linuxRules: true, transmissions: 12, delivered: 12);
        Assert.Equal(Ms(75), Window(rack, true));
    }

    [Theory]
    [InlineData(RackRules.Rfc8985, 300)]
    [InlineData(RackRules.Linux, 275)]
    public void A_dsack_that_delivers_nothing_leaves_a_due_reordering_timer_under_linuxs_rules(RackRules rules, int resentMs)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TailLossProbe = false, RackRules = rules }, timestamps: false);
        c.Send(Bytes(10 * PlainMss));
        h.Poll();
        h.DrainSent();
        h.AdvanceTo(Ms(200));
        Ack(h, 1, (2, 3));
        h.AdvanceTo(Ms(205));
        Ack(h, 3); // segment 1 below segment 2: reordering
        Assert.True(c.Info().ReorderingEvents > 0);
        h.AdvanceTo(Ms(210));
        Ack(h, 3, (4, 5));
        Assert.Equal(Ms(235), h.AdvanceToNextDeadline()); // min RTT / 4
        h.Expect(TcpFlags.Ack, Our(3 * PlainMss), Their(0), PlainMss);
        h.AdvanceTo(Ms(250));
        Ack(h, 5, (6, 7)); // segment 5 a hole: due at 275
        h.AdvanceTo(Ms(260));
        Ack(h, 5, (3, 4), (6, 7)); // the resend D-SACKed, nothing delivered
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
        h.ExpectNothing();
        TimeSpan fired = h.AdvanceToNextDeadline();
        if (fired < Ms(resentMs))
        {
            h.ExpectNothing(); // the RFC's widened window: not yet
            Assert.Equal(Ms(resentMs), h.AdvanceToNextDeadline());
        }
        Assert.Equal(Ms(resentMs), h.Now);
        h.Expect(TcpFlags.Ack, Our(5 * PlainMss), Their(0), PlainMss);
        h.ExpectNothing();
    }
}
