using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Packetization-layer path MTU probing (TcpConfig.MtuProbing; RFC 4821, Linux's tcp_mtu_probe): a passive open whose
/// route carries 640-byte packets (MSS 600) learns a 1500-byte route, as upstream's mtu_probe/basic-v4.pkt; the peer
/// offers 1460 and SACK, no timestamps. The search runs from 552 (base MSS 512 + 40) to 1500 bytes of packet, so the
/// first probe is of 1026 bytes: 986 of data. tests/scripts/mtu/*.pkt: the same on Linux 6.18.
/// </summary>
public class MtuProbeTests
{
    private static readonly TcpConfig Probing = new()
    {
        MtuProbing = MtuProbing.Always, BaseMss = 512, Mss = 600, InitialWindowSegments = 11, TailLossProbe = false,
    };

    private static (Harness H, TcpConnection C) Connected(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(100), config ?? Probing, timestamps: false, sack: true);
        c.RouteMtu = 1500;
        return (h, c);
    }

    /// <summary>Writes <paramref name="bytes"/> and returns the payload lengths of what leaves at once.</summary>
    private static List<int> Write(Harness h, TcpConnection c, int bytes)
    {
        c.Send(Bytes(bytes));
        h.Poll();
        var sizes = new List<int>();
        while (h.TryNext() is Sent s) sizes.Add(s.Payload.Length);
        return sizes;
    }

    private static void Ack(Harness h, int ourOffset, params (int From, int To)[] sacked)
    {
        var options = new TcpOptions();
        foreach ((int from, int to) in sacked) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from)), new SeqNumber(Our(to))));
        h.Send(TcpFlags.Ack, Their(0), Our(ourOffset), window: PeerWindow, options: options);
        h.Poll();
    }

    [Fact]
    public void The_probe_of_the_middle_of_the_search_goes_first_and_its_ack_makes_its_size_the_mss()
    {
        (Harness h, TcpConnection c) = Connected();
        Assert.Equal(600, c.SendMss); // a passive open keeps the MSS until it next syncs, as Linux's accepted socket
        Assert.Equal([986, 600, 600, 600, 600, 600, 14], Write(h, c, 4000));
        Assert.Equal(10 * 600, c.Info().CongestionWindow); // the probe took a segment of cwnd (Linux's snd_cwnd--)

        h.Advance(Ms(100));
        Ack(h, 4000);
        Assert.Equal(986, c.SendMss);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPMTUPSuccess]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPMTUPFail]);
        h.DrainSent();
        Assert.Equal([986, 986, 28], Write(h, c, 2000));
    }

    [Fact]
    public void The_probes_ack_rescales_cwnd_to_keep_its_bytes_in_the_larger_packets()
    {
        // Linux's tcp_mtup_probe_success sets cwnd = 10 × 640 / 1026 = 6 packets, now of 986 bytes; then slow start
        // adds the one segment this ACK delivered, the probe: 7 (Linux counts the probe as one packet, as here).
        (Harness h, TcpConnection c) = Connected();
        Write(h, c, 4000);
        h.Advance(Ms(100));
        Ack(h, 986); // the probe alone
        Assert.Equal(986, c.SendMss);
        Assert.Equal(7 * 986, c.Info().CongestionWindow);
    }

    [Fact]
    public void The_probes_ack_grows_cwnd_by_the_segments_it_delivered_not_their_bytes()
    {
        // cwnd 10 × 600 after the probe is 10 × 640 / 1026 = 6 segments of 986; the ACK delivered 7 segments (the probe,
        // five of 600, one of 14) and slow start adds 7 of the new size, as Linux's tcp_slow_start adds packets: 13. By
        // their 4000 bytes it would be 10; ssthresh stays unset (tcp_current_ssthresh keeps the larger).
        (Harness h, TcpConnection c) = Connected();
        Write(h, c, 4000);
        h.Advance(Ms(100));
        Ack(h, 4000);
        Assert.Equal(986, c.SendMss);
        Assert.Equal(13 * 986, c.Info().CongestionWindow);
        Assert.Equal(int.MaxValue, c.Info().SlowStartThreshold);
    }

    [Fact]
    public void The_probe_counts_one_segment_in_flight_so_cwnd_sends_as_many_after_it_as_linux()
    {
        // cwnd 11 gives a segment for the probe: 10, of which the probe is one packet in flight (tcp_packets_in_flight),
        // so nine segments of 600 follow it, not the eight its 986 bytes would leave room for; and no tenth.
        (Harness h, TcpConnection c) = Connected();
        Assert.Equal([986, 600, 600, 600, 600, 600, 600, 600, 600, 600], Write(h, c, 20_000));
        Assert.Equal(10 * 600, c.Info().CongestionWindow);
    }

    [Fact]
    public void A_timeout_with_the_probe_in_flight_leaves_it_inconclusive_and_runs_no_frto()
    {
        // Linux's __tcp_retransmit_skb forgets a probe in flight ("Inconclusive MTU probe"), and tcp_enter_loss runs no
        // F-RTO while one is: the ACK of everything is neither a success nor a failure, and undoes nothing.
        (Harness h, TcpConnection c) = Connected(Probing with { InitialWindowSegments = 20 });
        Assert.Equal([986, 600, 600, 600, 600, 600, 14], Write(h, c, 4000));
        h.AdvanceToNextDeadline(); // the retransmission timeout (no loss probes here)
        Sent resend = h.Next();
        Assert.Equal((Our(0), 600), (resend.Seq, resend.Payload.Length)); // the probe's first 600 bytes, at the MSS
        h.ExpectNothing();
        h.Advance(Ms(100));
        Ack(h, 4000); // originals never resent among it: F-RTO would have called the timeout spurious
        Assert.Equal(600, c.SendMss);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPMTUPSuccess]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPMTUPFail]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSpuriousRTOs]);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.True(c.Info().CongestionWindow < c.Info().SlowStartThreshold, "slow start from the timeout's one segment");

        // Once cwnd is back over 11 segments, the rest of the write goes with a probe of the search's middle first, as
        // before: 986 bytes (a failure would have made it 748).
        h.DrainSent();
        List<int> sizes = Write(h, c, 8000);
        Assert.All(sizes, size => Assert.True(size <= 600, $"a {size}-byte segment under 11 segments of cwnd"));
        h.Advance(Ms(100));
        Ack(h, 4000 + sizes.Sum());
        Assert.Equal(986, h.Next().Payload.Length);
    }

    [Fact]
    public void A_retransmission_of_other_data_leaves_the_probe_inconclusive()
    {
        // Five segments, then a probe behind them; the first is lost, the rest SACKed. Its fast retransmit forgets the
        // probe, so the ACK that covers the probe later raises nothing (Linux's __tcp_retransmit_skb).
        (Harness h, TcpConnection c) = Connected();
        Assert.All(Write(h, c, 3000), size => Assert.Equal(600, size));
        Assert.Equal(986, Write(h, c, 4000)[0]); // 986 + 4 × 600 queued: the probe goes, at SND.NXT 3000
        h.Advance(Ms(100));
        Ack(h, 0, (600, 3986));
        Ack(h, 0, (600, 4586));
        Ack(h, 0, (600, 5186));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Sent resend = h.Next();
        Assert.Equal((Our(0), 600), (resend.Seq, resend.Payload.Length));
        h.Advance(Ms(100));
        Ack(h, 4586); // past the probe
        Assert.Equal(600, c.SendMss);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPMTUPSuccess]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPMTUPFail]);
    }

    [Fact]
    public void No_probe_below_a_cwnd_of_eleven_segments()
    {
        (Harness h, TcpConnection c) = Connected(Probing with { InitialWindowSegments = 10 });
        Assert.Equal([600, 600, 600, 600, 600, 600, 400], Write(h, c, 4000));
        Assert.Equal(600, c.SendMss);
    }

    [Fact]
    public void No_probe_unless_the_probe_and_reordering_plus_one_segments_more_are_queued()
    {
        (Harness h, TcpConnection c) = Connected();
        // 986 + 4 × 600 = 3386 bytes are needed beyond SND.NXT; one byte fewer sends no probe.
        Assert.All(Write(h, c, 3385), size => Assert.True(size <= 600, $"a {size}-byte segment"));
    }

    [Fact]
    public void Off_by_default_no_probe_and_black_hole_detection_is_the_same_switch()
    {
        Assert.Equal(MtuProbing.Off, new TcpConfig().MtuProbing);
        Assert.Equal(MtuProbing.AfterBlackHole, new TcpConfig { MtuBlackHoleDetection = true }.MtuProbing);
        Assert.Equal(MtuProbing.Always, new TcpConfig { MtuProbing = MtuProbing.Always, MtuBlackHoleDetection = true }.MtuProbing);
        Assert.False(new TcpConfig { MtuProbing = MtuProbing.Always, MtuBlackHoleDetection = false }.MtuBlackHoleDetection);
        (Harness h, TcpConnection c) = Connected(Probing with { MtuProbing = MtuProbing.Off });
        Assert.All(Write(h, c, 4000), size => Assert.True(size <= 600));
    }

    [Fact]
    public void Mode_one_sends_no_probe_before_a_black_hole()
    {
        (Harness h, TcpConnection c) = Connected(Probing with { MtuProbing = MtuProbing.AfterBlackHole });
        Assert.Equal([600, 600, 600, 600, 600, 600, 400], Write(h, c, 4000));
    }

    [Fact]
    public void A_lost_probe_is_resent_at_the_mss_with_no_recovery_and_no_cwnd_cut_and_narrows_the_search()
    {
        (Harness h, TcpConnection c) = Connected();
        Write(h, c, 4000);
        int cwnd = c.Info().CongestionWindow;
        h.Advance(Ms(100));
        // What follows the probe arrives; the third SACKed segment has the probe deemed lost.
        Ack(h, 0, (986, 1586));
        Ack(h, 0, (986, 2186));
        Ack(h, 0, (986, 2786));
        Assert.Equal((Our(0), 600), (h.Next().Seq, h.Next() is var second ? 600 : 0));
        Assert.Equal((Our(600), 386), (second.Seq, second.Payload.Length));
        h.ExpectNothing();
        Assert.Equal(cwnd + 600, c.Info().CongestionWindow); // the probe's segment given back, nothing cut
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPMTUPFail]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSackRecovery]);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState); // until what was sent is acknowledged (tcp_simple_retransmit)

        h.Advance(Ms(100));
        Ack(h, 4000);
        // The top of the search is now 1025: the next probe is of the middle of 552..1025, 788 bytes (748 of data).
        Assert.Equal(748, Write(h, c, 4000)[0]);
    }

    [Fact]
    public void No_probe_in_recovery()
    {
        (Harness h, TcpConnection c) = Connected();
        Write(h, c, 3000); // too little for a probe: five segments of 600
        h.Advance(Ms(100));
        Ack(h, 0, (600, 1200));
        Ack(h, 0, (600, 1800));
        Ack(h, 0, (600, 2400));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        h.DrainSent();
        Assert.All(Write(h, c, 8000), size => Assert.True(size <= 600, $"a {size}-byte segment in recovery"));
    }

    [Fact]
    public void Once_the_search_is_done_no_probe_goes_until_the_interval_has_passed()
    {
        // With a 500-byte threshold the first probe (986) is lost, leaving 552..1025: narrower than the threshold.
        (Harness h, TcpConnection c) = Connected(Probing with { MtuProbeThreshold = 500, MtuProbeInterval = TimeSpan.FromSeconds(60) });
        Write(h, c, 4000);
        h.Advance(Ms(100));
        Ack(h, 0, (986, 1586));
        Ack(h, 0, (986, 2186));
        Ack(h, 0, (986, 2786));
        h.Advance(Ms(100));
        Ack(h, 4000);
        h.DrainSent();
        int acked = 4000;
        for (int i = 0; i < 3; i++)
        {
            List<int> sizes = Write(h, c, 8000);
            Assert.All(sizes, size => Assert.True(size <= 600, $"a {size}-byte segment before the interval"));
            h.Advance(Ms(100));
            acked += 8000;
            Ack(h, acked);
            h.DrainSent();
        }
        // 60 s after probing began the search starts over, from the MSS (640) up to the peer's 1500: a 1030-byte probe.
        h.AdvanceTo(TimeSpan.FromSeconds(61));
        Ack(h, acked);
        Write(h, c, 1); // the write that finds the search over restarts it; the probe goes on the next
        h.Advance(Ms(100));
        Ack(h, acked + 1);
        h.DrainSent();
        Assert.Equal(1030, Write(h, c, 8000)[0]);
    }

    [Fact]
    public void A_lower_route_mtu_shrinks_segments_at_once()
    {
        (Harness h, TcpConnection c) = Connected(Probing with { MtuProbing = MtuProbing.Off, Mss = 1460 });
        Assert.Equal(1460, c.SendMss);
        c.RouteMtu = 1040;
        Assert.Equal(1000, c.SendMss);
        Assert.All(Write(h, c, 4000), size => Assert.True(size <= 1000));
    }
}
