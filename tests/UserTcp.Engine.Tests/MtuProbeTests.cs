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
