using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Which deliveries of a resent segment move RACK's most recently delivered send time (RFC 8985 §6.2 step 2), as Linux
/// 6.18's tcp_rack_advance decides: a resend delivered at least min RTT after it left counts, whatever timestamp the ACK
/// echoes; one delivered sooner may be its original's, so it does not. The lab's tail-loss scenario, two segments lost.
/// </summary>
public class RackAdvanceTests
{
    /// <summary>Four segments at 100 ms (min RTT 100 ms), the first two ACKed at 200 ms, the last two lost; then the loss probe, which resends the last.</summary>
    private static (Harness H, TcpConnection C, TimeSpan ProbeAt) TailOfTwoLostThenProbed()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 4); // at 100 ms
        h.AdvanceTo(Ms(200));
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow, options: Options(h, OurTs(Ms(100))));
        h.ExpectNothing();
        TimeSpan probeAt = h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * Mss), Their(0), Mss); // the probe: the last segment again (no new data to send)
        h.ExpectNothing();
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
        return (h, c, probeAt);
    }

    [Fact]
    public void The_probes_sack_echoing_the_last_in_order_segments_older_timestamp_resends_the_hole_at_once()
    {
        (Harness h, TcpConnection c, TimeSpan probeAt) = TailOfTwoLostThenProbed();

        // The probe arrives out of order (segment 2 is missing), so the receiver's TS.Recent stays the last in-order
        // segment's (RFC 7323 §4.3) and its ACK echoes 100 ms, before the probe left. Linux advances RACK anyway (only the
        // min-RTT test guards a resend's delivery), so segment 2, sent before the probe, is lost now, not at the RTO.
        h.AdvanceTo(probeAt + Ms(100));
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow, options: Options(h, OurTs(Ms(100)), (3 * Mss, 4 * Mss)));
        h.Expect(TcpFlags.Ack, Our(2 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal([TcpCause.TailLossProbe, TcpCause.RackLoss], h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Cause));
        Assert.True(c.InFastRecovery);
    }

    [Fact]
    public void A_probe_sacked_sooner_than_min_rtt_after_it_left_may_be_its_originals_delivery_and_resends_nothing()
    {
        (Harness h, TcpConnection _, TimeSpan probeAt) = TailOfTwoLostThenProbed();

        // 10 ms after the probe: too soon for the probe's own round trip (min RTT 100 ms), so the SACK may be the
        // original's, late; RACK waits (tcp_rack_advance returns), and nothing is resent on it.
        h.AdvanceTo(probeAt + Ms(10));
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow, options: Options(h, OurTs(Ms(100)), (3 * Mss, 4 * Mss)));
        h.ExpectNothing();
        Assert.Single(h.Log.Of(TcpEventKind.Retransmission));
    }
}
