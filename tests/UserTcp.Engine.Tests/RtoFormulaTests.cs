using UserTcp.Testing;
using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// <see cref="TcpConfig.RtoFormula"/>: RFC 6298 §2 raises the RTO to MinRto; Linux's estimator keeps its variance term at
/// least MinRto, so the RTO is SRTT + 200 ms on a LAN. No timestamps here: one Karn sample per round trip.
/// </summary>
public class RtoFormulaTests
{
    private static readonly TcpConfig Rfc = new();
    private static readonly TcpConfig Linux = new() { RtoFormula = RtoFormula.Linux };

    /// <summary>One round trip: 100 bytes out at Now, ACKed <paramref name="rtt"/> later (one RTT sample).</summary>
    private static void Round(Harness h, TcpConnection c, ref int sent, TimeSpan rtt)
    {
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(sent), Their(0), 100);
        sent += 100;
        h.Advance(rtt);
        h.Send(TcpFlags.Ack, Their(0), Our(sent), window: PeerWindow);
        h.ExpectNothing();
    }

    [Fact]
    public void Steady_10_ms_rtt_gives_rfc6298_the_200_ms_floor_and_linux_srtt_plus_200_ms()
    {
        (Harness rh, TcpConnection rc) = EstablishedAfter(Ms(10), Rfc);
        (Harness lh, TcpConnection lc) = EstablishedAfter(Ms(10), Linux);
        Assert.Equal(Ms(200), rc.Rto); // 10 + 4 × 5 = 30 ms, raised to MinRto
        Assert.Equal(Ms(210), lc.Rto); // 10 + max(4 × 5, 200)
        int rs = 0, ls = 0;
        for (int i = 0; i < 8; i++)
        {
            Round(rh, rc, ref rs, Ms(10));
            Round(lh, lc, ref ls, Ms(10));
        }
        Assert.Equal(Ms(10), rc.SmoothedRtt);
        Assert.Equal(Ms(10), lc.SmoothedRtt);
        Assert.Equal(Ms(200), rc.Rto);
        Assert.Equal(Ms(210), lc.Rto); // the variance term stays at MinRto although RTTVAR has decayed
    }

    /// <summary>Four 10 ms round trips, then 100 bytes out at <c>start</c> that no ACK will answer.</summary>
    private static (Harness H, TcpConnection C, int Sent, TimeSpan Start) UnansweredAfterFourRounds(TcpConfig config)
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(10), config);
        int sent = 0;
        for (int i = 0; i < 4; i++) Round(h, c, ref sent, Ms(10));
        TimeSpan start = h.Now;
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(sent), Their(0), 100);
        return (h, c, sent, start);
    }

    [Fact]
    public void Under_linux_formula_the_timer_fires_at_srtt_plus_200_ms_and_not_at_the_rfc6298_instant()
    {
        (Harness h, TcpConnection c, int sent, TimeSpan start) = UnansweredAfterFourRounds(Linux);
        Assert.Equal(start + Ms(210), c.TimerDeadline(TcpTimer.Retransmission));

        h.AdvanceTo(start + Ms(200)); // RFC 6298's instant: nothing yet
        h.AdvanceTo(start + Ms(209));
        h.ExpectNothing();
        Assert.Empty(h.Retransmissions());

        Assert.Equal(start + Ms(210), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(sent), Their(0), 100);
        Assert.Equal(start + Ms(210), Assert.Single(h.Retransmissions()).Time);
    }

    [Fact]
    public void Under_rfc6298_the_timer_fires_at_the_200_ms_floor()
    {
        (Harness h, _, int sent, TimeSpan start) = UnansweredAfterFourRounds(Rfc);
        h.AdvanceTo(start + Ms(199));
        h.ExpectNothing();
        Assert.Equal(start + Ms(200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(sent), Their(0), 100);
    }

    [Fact]
    public void Steady_100_ms_rtt_makes_linux_rto_50_ms_later_than_rfc6298()
    {
        // cubic-rto-ss-ca-cwnd-bump.pkt's case: RFC 6298 lets RTTVAR decay below 50 ms, Linux keeps its term at 200 ms.
        (Harness rh, TcpConnection rc) = EstablishedAfter(Ms(100), Rfc);
        (Harness lh, TcpConnection lc) = EstablishedAfter(Ms(100), Linux);
        Assert.Equal(Ms(300), rc.Rto); // 100 + 4 × 50
        Assert.Equal(Ms(300), lc.Rto); // 100 + max(200, 200)
        int rs = 0, ls = 0;
        Round(rh, rc, ref rs, Ms(100));
        Round(lh, lc, ref ls, Ms(100));
        Assert.Equal(Ms(250), rc.Rto); // RTTVAR 37.5 ms
        Assert.Equal(Ms(300), lc.Rto);
    }

    [Fact]
    public void Linux_rttvar_jumps_to_a_larger_variance_at_once_and_decays_a_quarter_per_round_trip()
    {
        // No loss probe: at 2 × SRTT it would go before the slow ACK.
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(100), Linux with { TailLossProbe = false });
        int sent = 0;
        Round(h, c, ref sent, Ms(260)); // SRTT 120, 4·mdev 310: rttvar 310 at once
        Assert.Equal(Ms(430), c.Rto);
        Round(h, c, ref sent, Ms(100)); // SRTT 117.5, 4·mdev 252.5: rttvar 310 − (310 − 252.5) / 4
        Assert.Equal(TimeSpan.FromMicroseconds(117_500), c.SmoothedRtt);
        Assert.Equal(TimeSpan.FromMicroseconds(117_500 + 295_625), c.Rto);
    }

    [Fact]
    public void Linux_mdev_grows_by_only_1_32_on_a_sample_below_srtt_and_tcp_info_reports_it()
    {
        (Harness rh, TcpConnection rc) = EstablishedAfter(Ms(100), Rfc);
        (Harness lh, TcpConnection lc) = EstablishedAfter(Ms(100), Linux);
        int rs = 0, ls = 0;
        Round(rh, rc, ref rs, Ms(20));
        Round(lh, lc, ref ls, Ms(20));
        Assert.Equal(TimeSpan.FromMicroseconds(57_500), rc.Info().RttVariance); // 50 + (80 − 50) / 4
        Assert.Equal(TimeSpan.FromMicroseconds(50_937.5), lc.Info().RttVariance); // 50 + (80 − 50) / 32
        Assert.Equal(Ms(320), rc.Rto); // 90 + 4 × 57.5
        Assert.Equal(TimeSpan.FromMicroseconds(90_000 + 203_750), lc.Rto); // 90 + 4 × 50.9375
        Assert.Equal(lc.Rto, lc.Info().Rto);
    }

    [Fact]
    public void Linux_samples_allocate_nothing()
    {
        var rto = new RtoEstimator(Linux);
        var una = new SeqNumber(1);
        for (int i = 0; i < 100; i++) rto.AddSample(Ms(10 + i % 7), 4, una += 100, una + 1000); // warm up
        // Allocations.Fewest: the runtime's own tiering may allocate on the thread once mid-loop (2,400 B seen in a loaded full run).
        Assert.Equal(0, Allocations.Fewest(() =>
        {
            for (int i = 0; i < 10_000; i++) rto.AddSample(Ms(10 + i % 7), 4, una += 100, una + 1000);
        }));
        Assert.InRange(rto.Rto, Ms(210), Ms(220));
    }
}
