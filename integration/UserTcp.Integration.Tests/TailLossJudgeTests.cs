using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// tail-loss's verdict on records made here (no root), each of its two parts on a connection of its own: a resend is a
/// loss probe only when the sender's own account says so, comes in place of the RTO only when it is no later, and the
/// second part's hole must go on the probe's SACK, whichever side sends.
/// </summary>
public sealed class TailLossJudgeTests
{
    private const int Mss = 1448, Segments = 4;
    private const ushort OnePort = 5030, TwoPort = 5031, Ephemeral = 40000;
    private static readonly TimeSpan Rto = Ms(204);

    /// <summary>How one part goes: after how long the probe follows the last ACK, and what the sender says it was.</summary>
    private sealed record Part(int Lost, double ProbeAfter, double HoleAfter = 0.1, TcpCause ProbeCause = TcpCause.TailLossProbe,
        TcpCause HoleCause = TcpCause.RackLoss, long Timeouts = 0, long Probes = 1, int ExtraResends = 0, string Read = "read 5792 bytes, as written");

    private static RecordBuilder Build(bool userTcpSends, Part part, TimeSpan start)
    {
        ushort port = part.Lost == 1 ? OnePort : TwoPort;
        var b = userTcpSends ? new RecordBuilder(Ephemeral, port) : new RecordBuilder(port, Ephemeral);
        void Data(TimeSpan at, uint seq, bool dropped = false)
        {
            TcpFlags flags = seq == 1 + (Segments - 1) * Mss ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack;
            if (userTcpSends) b.FromUserTcp(at, seq, flags, 1, Mss, dropped);
            else b.FromKernel(at, seq, flags, 1, Mss, dropped);
        }
        void Ack(TimeSpan at, uint ack, params (uint Left, uint Right)[] sack)
        {
            if (userTcpSends) b.FromKernel(at, 1, TcpFlags.Ack, ack, sack: sack);
            else b.FromUserTcp(at, 1, TcpFlags.Ack, ack, sack: sack);
        }
        void Resent(TimeSpan at, uint seq, TcpCause cause)
        {
            Data(at, seq);
            if (userTcpSends)
            {
                b.Event(new TcpEvent(at, TcpEventKind.Retransmission, default, TcpState.Established, TcpState.Established, cause,
                    new SegmentSummary(new SeqNumber(RecordBuilder.UserTcpIsn + seq), new SeqNumber(RecordBuilder.KernelIsn + 1), TcpFlags.Ack, Mss, 502), Deadline: at + Rto));
            }
        }
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        b.Handshake(start, kernelConnects: !userTcpSends);
        TimeSpan write = start + Ms(10);
        b.Reading(write, sender, "tcpi_rtt", 600);
        b.Reading(write, sender, "tcpi_rto", (long)Rto.TotalMicroseconds);
        for (int i = 0; i < Segments; i++) Data(write + Ms(0.01 * i), (uint)(1 + i * Mss), dropped: i >= Segments - part.Lost);
        TimeSpan lastAck = write + Ms(1);
        for (int i = 0; i < Segments - part.Lost; i++) Ack(lastAck, (uint)(1 + (i + 1) * Mss));
        uint last = 1 + (Segments - 1) * Mss, hole = (uint)(1 + (Segments - part.Lost) * Mss);
        TimeSpan probe = lastAck + Ms(part.ProbeAfter);
        Resent(probe, last, part.ProbeCause);
        for (int i = 0; i < part.ExtraResends; i++) Resent(probe + Ms(30 * (i + 1)), last, TcpCause.TailLossProbe);
        TimeSpan done = probe + Ms(0.5);
        if (part.Lost > 1)
        {
            Ack(done, hole, (last, last + Mss));
            done += Ms(part.HoleAfter);
            Resent(done, hole, part.HoleCause);
            done += Ms(0.5);
        }
        Ack(done, 1 + Segments * Mss);
        b.Mark(done + Ms(0.1), userTcpSends ? LabSide.Kernel : LabSide.UserTcp, part.Read);
        if (!userTcpSends)
        {
            b.Reading(done + Ms(1), LabSide.Kernel, "TcpExtTCPLossProbes", part.Probes);
            b.Reading(done + Ms(1), LabSide.Kernel, "TcpExtTCPTimeouts", part.Timeouts);
            b.Reading(done + Ms(1), LabSide.Kernel, "TcpRetransSegs", part.Lost + part.ExtraResends);
        }
        return b;
    }

    private static LabVerdict Judge(bool userTcpSends, Part one, Part two) =>
        LabCatalog.Find("tail-loss")!.Judge(RecordBuilder.Build("tail-loss", userTcpSends ? LabRole.UserTcpActive : LabRole.UserTcpPassive,
            [Build(userTcpSends, one, TimeSpan.Zero), Build(userTcpSends, two, TimeSpan.FromSeconds(1))]));

    private static IReadOnlyList<Expectation> Failed(LabVerdict verdict) => [.. verdict.Expectations.Where(e => !e.Passed)];

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public void A_kernel_that_probes_in_the_rtos_place_and_then_two_srtt_after_the_last_ack_passes()
    {
        LabVerdict verdict = Judge(userTcpSends: false, new Part(1, ProbeAfter: 206), new Part(2, ProbeAfter: 7));

        Assert.Empty(Failed(verdict));
        Assert.Contains("The kernel resent seq 4345 207.0 ms after first sending it, 206.0 ms after UserTcp's last ACK reached it; its RTO then was 204.0 ms, "
            + "so the timeout would have fired 2.0 ms earlier, at an SRTT of 0.6 ms.", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("the kernel resent the hole 0.1 ms after it (8.6 ms after first sending it), on that ACK.", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_timeout_in_the_kernels_counters_fails_though_the_resend_came_when_a_probe_would()
    {
        IReadOnlyList<Expectation> failed = Failed(Judge(userTcpSends: false, new Part(1, ProbeAfter: 206, Timeouts: 1, Probes: 0), new Part(2, ProbeAfter: 7)));

        Expectation only = Assert.Single(failed);
        Assert.StartsWith("last segment lost: the kernel's counters over this part say: a loss probe, no timeout", only.What, StringComparison.Ordinal);
        Assert.Contains("TCPLossProbes 0", only.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_resend_later_than_the_rto_would_have_fired_fails_and_so_does_a_probe_not_well_ahead_of_it_with_two_out()
    {
        IReadOnlyList<Expectation> failed = Failed(Judge(userTcpSends: false, new Part(1, ProbeAfter: 204 + 60), new Part(2, ProbeAfter: 150)));

        Assert.Equal(
            ["last segment lost: the first resend is the write's last segment, no later than the RTO would have fired (the last ACK + RTO, 50.0 ms allowed)",
             "last two lost: with two segments out, the probe goes well before the RTO: within half of it from the last ACK"],
            failed.Select(e => e.What));
    }

    [Fact]
    public void A_kernel_that_leaves_the_hole_to_its_timer_after_the_probes_sack_fails()
    {
        Expectation only = Assert.Single(Failed(Judge(userTcpSends: false, new Part(1, ProbeAfter: 206), new Part(2, ProbeAfter: 7, HoleAfter: 204))));

        Assert.Equal("last two lost: the kernel resends the hole on that ACK (within 100.0 ms), not on a timer", only.What);
        Assert.Equal("resent 204.0 ms after that ACK", only.Observed);
    }

    [Fact]
    public void Usertcp_passes_with_a_probe_each_time_and_the_hole_on_the_probes_sack()
    {
        LabVerdict verdict = Judge(userTcpSends: true, new Part(1, ProbeAfter: 204), new Part(2, ProbeAfter: 27));

        Assert.Empty(Failed(verdict));
        Assert.Contains("and UserTcp resent the hole 0.1 ms after it (28.6 ms after first sending it), on that ACK.", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void Usertcp_fails_a_hole_left_to_its_rto_after_the_probes_sack()
    {
        IReadOnlyList<Expectation> failed = Failed(Judge(userTcpSends: true, new Part(1, ProbeAfter: 204),
            new Part(2, ProbeAfter: 27, HoleAfter: 200, HoleCause: TcpCause.RetransmissionTimeout)));

        Assert.Equal(
            ["last two lost: UserTcp resends the hole on that ACK (within 100.0 ms), not on a timer",
             "last two lost: UserTcp's engine names the first resend a tail loss probe, and logs no retransmission timeout"],
            failed.Select(e => e.What));
        Assert.Equal("resent 200.0 ms after that ACK", failed[0].Observed);
        Assert.Equal("seq 4345: tail loss probe (RFC 8985), seq 2897: retransmission timeout", failed[1].Observed);
    }

    [Fact]
    public void Usertcp_fails_a_resend_its_engine_blames_on_the_timer()
    {
        Expectation only = Assert.Single(Failed(Judge(userTcpSends: true, new Part(1, ProbeAfter: 204, ProbeCause: TcpCause.RetransmissionTimeout), new Part(2, ProbeAfter: 27))));

        Assert.Equal("last segment lost: UserTcp's engine names the first resend a tail loss probe, and logs no retransmission timeout", only.What);
        Assert.Equal("seq 4345: retransmission timeout", only.Observed);
    }

    [Fact]
    public void A_second_resend_of_the_probed_segment_and_bytes_not_as_written_fail()
    {
        IReadOnlyList<Expectation> failed = Failed(Judge(userTcpSends: true, new Part(1, ProbeAfter: 204, ExtraResends: 1, Read: "read 5792 of 5792 bytes, not as written from byte 4344"),
            new Part(2, ProbeAfter: 27)));

        Assert.Equal(
            ["last segment lost: each lost segment is resent exactly once, and nothing else is", "last segment lost: all the bytes arrive, once and in order"],
            failed.Select(e => e.What));
        Assert.Equal("seq 4345 resent twice", failed[0].Observed);
    }

    /// <summary>
    /// tail-loss at 7e8d58d listed "data [P.] seq 4345: sent at …" twice among the kernel's retransmissions, one per part,
    /// without saying which connection either was; each line now names its connection as the graphs' titles do.
    /// </summary>
    [Fact]
    public void Each_retransmission_line_names_its_connection()
    {
        LabVerdict verdict = Judge(userTcpSends: false, new Part(1, ProbeAfter: 206), new Part(2, ProbeAfter: 7));

        Assert.Equal(3, verdict.KernelSchedule.Count);
        Assert.StartsWith($"{Ephemeral} ↔ {OnePort}: data [P.] seq 4345: sent at ", verdict.KernelSchedule[0], StringComparison.Ordinal);
        Assert.Equal(2, verdict.KernelSchedule.Count(l => l.StartsWith($"{Ephemeral} ↔ {TwoPort}: data ", StringComparison.Ordinal)));
    }
}
