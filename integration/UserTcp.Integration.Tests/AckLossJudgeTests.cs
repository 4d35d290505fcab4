using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// ack-loss's verdict on records made here (no root): in the stream nothing may be resent and every lost ACK must be
/// made good by a later one; with the write's only ACK lost the sender must resend once, on a timer, the receiver must
/// answer the copy once with a D-SACK, and the sender must take no congestion response — whichever side sends.
/// </summary>
public sealed class AckLossJudgeTests
{
    private const int Mss = 1448, Segments = 12;
    private const ushort StreamPort = 5040, LastPort = 5041, Ephemeral = 40000;

    private sealed record Stream(int[]? Lost = null, int ResendFirst = 0, double LateSecondAck = 0);

    private sealed record Last(double ResendAfter = 203, TcpCause Cause = TcpCause.TailLossProbe, bool Dsack = true, int Answers = 1,
        long CwndAfter = 10, long StateAfter = 0, long Timeouts = 0, long Probes = 1);

    private static RecordBuilder Connection(bool userTcpSends, ushort port) =>
        userTcpSends ? new RecordBuilder(Ephemeral, port) : new RecordBuilder(port, Ephemeral);

    private static void Data(RecordBuilder b, bool userTcpSends, TimeSpan at, uint seq)
    {
        if (userTcpSends) b.FromUserTcp(at, seq, TcpFlags.Ack | TcpFlags.Psh, 1, Mss);
        else b.FromKernel(at, seq, TcpFlags.Ack | TcpFlags.Psh, 1, Mss);
    }

    private static void Ack(RecordBuilder b, bool userTcpSends, TimeSpan at, uint ack, bool dropped = false, params (uint Left, uint Right)[] sack)
    {
        if (userTcpSends) b.FromKernel(at, 1, TcpFlags.Ack, ack, dropped: dropped, sack: sack);
        else b.FromUserTcp(at, 1, TcpFlags.Ack, ack, dropped: dropped, sack: sack);
    }

    private static void Resent(RecordBuilder b, bool userTcpSends, TimeSpan at, uint seq, TcpCause cause)
    {
        Data(b, userTcpSends, at, seq);
        if (!userTcpSends) return;
        b.Event(new TcpEvent(at, TcpEventKind.Retransmission, default, TcpState.Established, TcpState.Established, cause,
            new SegmentSummary(new SeqNumber(RecordBuilder.UserTcpIsn + seq), new SeqNumber(RecordBuilder.KernelIsn + 1), TcpFlags.Ack | TcpFlags.Psh, Mss, 502),
            Deadline: at + Ms(200)));
    }

    private static RecordBuilder BuildStream(bool userTcpSends, Stream part)
    {
        RecordBuilder b = Connection(userTcpSends, StreamPort);
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        b.Handshake(TimeSpan.Zero, kernelConnects: !userTcpSends);
        b.Reading(Ms(5), sender, "tcpi_ca_state", 0);
        int[] lost = part.Lost ?? [1, 3, 5];
        TimeSpan end = TimeSpan.Zero;
        for (int i = 0; i < Segments; i++)
        {
            TimeSpan at = Ms(10 * (i + 1));
            uint seq = (uint)(1 + i * Mss);
            Data(b, userTcpSends, at, seq);
            if (part.ResendFirst > 0 && i == part.ResendFirst) Resent(b, userTcpSends, at + Ms(0.1), 1, TcpCause.TailLossProbe);
            // The second segment's ACK held up LateSecondAck ms (a busy machine): the sender's probe timer outruns it.
            if (i == 1 && part.LateSecondAck > 0) Resent(b, userTcpSends, at + Ms(part.LateSecondAck / 2), 1 + Mss, TcpCause.TailLossProbe);
            Ack(b, userTcpSends, at + Ms(0.2 + part.LateSecondAck), seq + Mss, dropped: lost.Contains(i + 1));
            end = at + Ms(0.3);
        }
        b.Reading(end, sender, "tcpi_ca_state", 0);
        b.Mark(end, userTcpSends ? LabSide.Kernel : LabSide.UserTcp, $"read {Segments * Mss} bytes, as written");
        if (!userTcpSends)
        {
            int resends = (part.ResendFirst > 0 ? 1 : 0) + (part.LateSecondAck > 0 ? 1 : 0);
            b.Reading(end, LabSide.Kernel, "TcpExtTCPLossProbes", resends);
            b.Reading(end, LabSide.Kernel, "TcpRetransSegs", resends);
        }
        return b;
    }

    private static RecordBuilder BuildLast(bool userTcpSends, Last part)
    {
        RecordBuilder b = Connection(userTcpSends, LastPort);
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        TimeSpan start = TimeSpan.FromSeconds(1);
        b.Handshake(start, kernelConnects: !userTcpSends);
        TimeSpan write = start + Ms(10);
        b.Reading(write, sender, "tcpi_snd_cwnd", 10);
        b.Reading(write, sender, "tcpi_ca_state", 0);
        b.Reading(write, sender, "tcpi_rto", 200_000);
        Data(b, userTcpSends, write, 1);
        Ack(b, userTcpSends, write + Ms(0.2), 1 + Mss, dropped: true);
        b.Mark(write + Ms(0.3), userTcpSends ? LabSide.Kernel : LabSide.UserTcp, $"read {Mss} bytes, as written");
        TimeSpan resend = write + Ms(part.ResendAfter);
        Resent(b, userTcpSends, resend, 1, part.Cause);
        for (int i = 0; i < part.Answers; i++)
        {
            if (part.Dsack) Ack(b, userTcpSends, resend + Ms(0.2 + i), 1 + Mss, sack: (1, 1 + Mss));
            else Ack(b, userTcpSends, resend + Ms(0.2 + i), 1 + Mss);
        }
        b.Reading(resend + Ms(5), sender, "tcpi_snd_cwnd", part.CwndAfter);
        b.Reading(resend + Ms(5), sender, "tcpi_ca_state", part.StateAfter);
        if (!userTcpSends)
        {
            b.Reading(resend + Ms(5), LabSide.Kernel, "TcpExtTCPLossProbes", part.Probes);
            b.Reading(resend + Ms(5), LabSide.Kernel, "TcpExtTCPTimeouts", part.Timeouts);
            b.Reading(resend + Ms(5), LabSide.Kernel, "TcpExtTCPDSACKRecv", part.Dsack ? 1 : 0);
        }
        return b;
    }

    private static LabVerdict Judge(bool userTcpSends, Stream? stream = null, Last? last = null) =>
        LabCatalog.Find("ack-loss")!.Judge(RecordBuilder.Build("ack-loss", userTcpSends ? LabRole.UserTcpActive : LabRole.UserTcpPassive,
            [BuildStream(userTcpSends, stream ?? new Stream()), BuildLast(userTcpSends, last ?? new Last())]));

    private static IReadOnlyList<string> Failed(LabVerdict verdict) => [.. verdict.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Cumulative_acks_make_good_the_lost_ones_and_the_lost_last_ack_draws_one_probe_answered_by_a_dsack(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends);

        Assert.Empty(Failed(verdict));
        Assert.Contains("the link dropped the first, third and fifth. Ack 1449 lost, ack 2897 got through 10.0 ms later;", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("resent it 203.0 ms after the write (its RTO was 200.0 ms)", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("answer to the copy: ack 1449, SACK 1-1449, 0.2 ms after the copy.", verdict.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_sender_that_resends_data_whose_ack_was_lost_though_a_later_ack_covered_it_fails(bool userTcpSends)
    {
        string sender = userTcpSends ? "UserTcp" : "the kernel";

        Assert.Equal([$"stream: {sender} resends nothing an ACK had already covered (a loss probe that ran out before the next ACK came may go), and no timeout fires"],
            Failed(Judge(userTcpSends, new Stream(ResendFirst: 2))));
    }

    [Fact]
    public void A_link_that_lost_the_streams_last_ack_is_not_the_question_and_fails()
    {
        Assert.Equal(
            ["stream: the link drops the kernel's first, third and fifth ACK of the data, and nothing else",
             "stream: each lost ACK is made good by a later one that gets through and acknowledges as much or more"],
            Failed(Judge(userTcpSends: true, new Stream(Lost: [1, 3, 12]))));
    }

    [Theory]
    [InlineData(60)]
    [InlineData(300)]
    public void A_resend_sooner_than_a_delayed_ack_or_later_than_the_rto_fails(double after)
    {
        Assert.Equal(
            ["last ACK: the kernel, hearing nothing, resends the segment exactly once, on a timer: no sooner than a delayed ACK could have come (195.0 ms), no later than its RTO (50.0 ms allowed)"],
            Failed(Judge(userTcpSends: false, last: new Last(ResendAfter: after))));
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void A_receiver_that_answers_the_copy_without_a_dsack_or_twice_fails(bool dsack, int answers)
    {
        LabVerdict verdict = Judge(userTcpSends: true, last: new Last(Dsack: dsack, Answers: answers));

        Assert.Contains("last ACK: the kernel drops the copy and answers it once, at once (within 100.0 ms), with the same ACK and a D-SACK block for the copy (RFC 2883)",
            Failed(verdict));
    }

    [Theory]
    [InlineData(5, 0)]
    [InlineData(10, 3)]
    public void A_sender_that_cuts_its_window_or_enters_recovery_on_the_dsacked_probe_fails(long cwndAfter, long stateAfter)
    {
        Assert.Equal(["last ACK: UserTcp takes the D-SACK's word that nothing was lost: it stays in the Open state and keeps its cwnd"],
            Failed(Judge(userTcpSends: true, last: new Last(CwndAfter: cwndAfter, StateAfter: stateAfter))));
    }

    [Fact]
    public void Usertcps_resend_named_a_timeout_and_the_kernels_counted_timeout_fail()
    {
        Assert.Equal(["last ACK: UserTcp's engine names the resend a tail loss probe (RFC 8985 §7), and logs no retransmission timeout"],
            Failed(Judge(userTcpSends: true, last: new Last(Cause: TcpCause.RetransmissionTimeout))));
        Assert.Equal(["last ACK: the kernel's counters say: a loss probe, no timeout, and the probe's D-SACK received (TCPLossProbes, TCPTimeouts, TCPDSACKRecv)"],
            Failed(Judge(userTcpSends: false, last: new Last(Timeouts: 1, Probes: 0))));
    }

    /// <summary>
    /// ack-loss (active) in a helper's loaded suite: a loss probe went in the stream. A probe that runs out before the
    /// next ACK reaches the sender is the timer doing its job, not a needless resend: it passes, and the text says so.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_probe_that_outran_a_late_ack_in_the_stream_passes(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends, new Stream(LateSecondAck: 40));

        Assert.Empty(Failed(verdict));
        Assert.Contains("resent seq 1449, before any ACK covered it (ack 2897 reached", verdict.Observed, StringComparison.Ordinal);
    }
}
