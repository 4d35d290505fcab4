using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>BBR's window on a manual clock, where the sender's generic window rules must leave it alone.</summary>
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
}
