using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// BBR's window and first pacing rate on a manual clock, where the sender's generic window rules must leave it alone.
/// </summary>
public class BbrWindowTests
{
    [Fact]
    public void The_restart_window_after_idle_leaves_bbrs_cwnd_alone()
    {
        // Linux's tcp_slow_start_after_idle_check returns for a congestion control with its own cong_control (BBR): its
        // cwnd is its model's, and a restart from idle is bbr_cwnd_event's business. The restart window (RFC 5681 §4.1,
        // tcp_cwnd_restart) halved it per RTO idle, down to the initial window.
        var config = new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr, SlowStartAfterIdle = true, TsoWindowDivisor = 0 };
        (Harness h, TcpConnection c) = ModernPeer.Established(TimeSpan.FromMilliseconds(100), config, timestamps: false, sack: false);
        int mss = c.SendMss;
        int acked = 0;
        c.Send(Bytes(40 * mss));
        h.Poll();
        while (acked < 40 * mss)
        {
            int sent = acked;
            while (h.TryNext() is Sent s) sent = Math.Max(sent, (int)(s.Seq - Our(0)) + s.Payload.Length);
            h.Advance(TimeSpan.FromMilliseconds(100));
            acked = sent;
            h.Send(TcpFlags.Ack, Their(0), Our(acked), window: PeerWindow);
        }
        int before = c.CongestionWindow;
        Assert.True(before >= 20 * mss, $"cwnd {before / mss} segments: STARTUP should have grown it");

        h.Advance(TimeSpan.FromSeconds(2)); // several RTOs with nothing in flight
        c.Send(Bytes(10 * mss));
        h.Poll();
        Assert.NotEqual(10 * mss, c.CongestionWindow);
        Assert.Equal(before, c.CongestionWindow);
        Assert.Equal(10, h.PendingCount); // the write leaves at once, all of it
    }

    [Fact]
    public void Bbr_paces_its_first_flight_from_the_handshake_rtt_in_pairs()
    {
        // Linux's bbr_init (tcp_init_transfer) sets the pacing rate before any ACK of data: bbr_init_pacing_rate_from_rtt,
        // STARTUP's 2.885 × cwnd per SRTT, less the 1 % margin; tcp_tso_autosize then cuts 1 ms of it, 403 bytes at
        // 100 ms, up to bbr_min_tso_segs' 2: the ten segments leave in pairs, PSH on each pair's last. UserTcp's BBR had
        // no rate before the first ACK (tcpi_pacing_rate unbounded) and sent packets of half of cwnd (PSH on the 5th, 10th).
        var config = new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr };
        (Harness h, TcpConnection c) = ModernPeer.Established(TimeSpan.FromMilliseconds(100), config);
        int mss = c.SendMss;
        long expected = (long)(Bbr.HighGain * 10 * mss / 0.1 * 0.99);
        Assert.InRange((long)c.Info().PacingRate, expected - 1, expected + 1);

        c.Send(Bytes(10 * mss));
        h.Poll();
        for (int i = 0; i < 10; i++)
        {
            Sent s = h.Next();
            Assert.Equal(Our(i * mss), s.Seq);
            Assert.Equal(i % 2 == 1, (s.Flags & TcpFlags.Psh) != 0);
        }
        h.ExpectNothing(); // cwnd is 10: nothing more before an ACK
    }

    [Fact]
    public void Switching_an_established_connection_to_bbr_sets_its_pacing_rate_from_the_srtt()
    {
        // tcp_reinit_congestion_control runs bbr_init on a synchronized socket, so the rate comes from the SRTT at once.
        (Harness h, TcpConnection c) = ModernPeer.Established(TimeSpan.FromMilliseconds(100));
        c.CongestionControl = CongestionControlAlgorithm.Bbr;
        long expected = (long)(Bbr.HighGain * 10 * c.SendMss / 0.1 * 0.99);
        Assert.InRange((long)c.Info().PacingRate, expected - 1, expected + 1);
        h.ExpectNothing();
    }
}
