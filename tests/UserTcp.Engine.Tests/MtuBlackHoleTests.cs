using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Path MTU black-hole detection (TcpConfig.MtuBlackHoleDetection; Linux's tcp_mtu_probing = 1): full-sized segments
/// vanish and no ICMP says why. A 100 ms handshake makes the RTO 300 ms; 4000 bytes go at 100 ms and nothing is ever
/// acknowledged. Retransmissions leave at 0.4, 1.0, 2.2, 4.6, 9.4, 19.0 s; the stall (from the first, 0.4 s) has lasted
/// Linux's 3 s (tcp_retries1 doublings from 200 ms) by the fourth, which goes as 1024 bytes, then 512, then 256.
/// tests/scripts/retransmission/mtu-black-hole-detection.pkt: the same on Linux 6.18.
/// </summary>
public class MtuBlackHoleTests
{
    private static readonly TcpConfig Detecting = new() { MtuBlackHoleDetection = true, TailLossProbe = false, DataRetries = 15 };

    /// <summary>The payload lengths of the first sending and each retransmission of the oldest byte, as they leave.</summary>
    private static List<int> Resends(TcpConfig config, bool timestamps, int timeouts)
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(100), config, timestamps, sack: false);
        c.Send(Bytes(4000));
        h.Poll();
        var sizes = new List<int> { h.Next().Payload.Length };
        h.DrainSent();
        for (int i = 0; i < timeouts; i++)
        {
            h.AdvanceToNextDeadline();
            Sent resend = h.Next();
            Assert.Equal(Our(0), resend.Seq); // go-back-N from SND.UNA: the oldest byte first
            sizes.Add(resend.Payload.Length);
            h.ExpectNothing(); // cwnd is one segment
        }
        return sizes;
    }

    [Fact]
    public void After_three_seconds_of_timeouts_each_timeout_lowers_the_segment_to_1024_then_by_half()
    {
        Assert.Equal([1460, 1460, 1460, 1460, 1024, 512, 256], Resends(Detecting, timestamps: false, timeouts: 6));
    }

    [Fact]
    public void With_timestamps_the_base_mss_is_the_payload_and_the_options_come_on_top()
    {
        Assert.Equal([1448, 1448, 1448, 1448, 1024, 512], Resends(Detecting, timestamps: true, timeouts: 5));
    }

    [Fact]
    public void The_size_never_falls_under_48_bytes()
    {
        List<int> sizes = Resends(Detecting with { BaseMss = 200 }, timestamps: false, timeouts: 8);
        Assert.Equal([1460, 1460, 1460, 1460, 200, 100, 50, 48, 48], sizes);
    }

    [Fact]
    public void Off_by_default_the_segments_stay_full_sized()
    {
        Assert.False(new TcpConfig().MtuBlackHoleDetection);
        Assert.Equal([1460, 1460, 1460, 1460, 1460, 1460, 1460], Resends(Detecting with { MtuBlackHoleDetection = false }, timestamps: false, timeouts: 6));
    }

    [Fact]
    public void The_lowered_size_stays_after_the_data_gets_through_and_each_decrease_is_counted()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(100), Detecting, timestamps: false, sack: false);
        c.Send(Bytes(4000));
        h.Poll();
        h.DrainSent();
        for (int i = 0; i < 5; i++)
        {
            h.AdvanceToNextDeadline();
            h.DrainSent();
        }
        Assert.Equal(512, c.SegmentMss);
        Assert.Equal(2, h.Engine.Counters[MibCounter.UserTcpMtuBlackHoleDecreases]);
        // The timeouts' resends are a timeout's, not ICMP's path MTU reduction.
        Assert.All(h.Log.Of(TcpEventKind.Retransmission), e => Assert.Equal(TcpCause.RetransmissionTimeout, e.Cause));

        h.Advance(Ms(10));
        h.Send(TcpFlags.Ack, Their(0), Our(512), window: PeerWindow); // the 512-byte resend got through
        h.Poll();
        Sent next = h.Next();
        Assert.Equal((Our(512), 512), (next.Seq, next.Payload.Length)); // the rest goes at the lowered size
        Assert.Equal(512, c.SegmentMss);
        Assert.Equal(2, h.Engine.Counters[MibCounter.UserTcpMtuBlackHoleDecreases]); // no timeout, no decrease
    }
}
