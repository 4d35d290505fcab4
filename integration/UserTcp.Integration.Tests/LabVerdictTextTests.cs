using System.Text.RegularExpressions;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// What the verdicts' "observed" paragraphs say, read as a user reads them, on records made here (no root): each
/// sentence begins with a capital, an instant reads "at 0.824 s", and the text says what the run's own numbers show.
/// </summary>
public sealed partial class LabVerdictTextTests
{
    [Theory]
    [InlineData("the kernel closed first. the kernel, in TIME-WAIT, answered", "The kernel closed first. The kernel, in TIME-WAIT, answered")]
    [InlineData("as a client. connection 1: SYN", "as a client. Connection 1: SYN")]
    [InlineData("[Linux's default (tcp_rfc1337 = 0)] the kernel closed", "[Linux's default (tcp_rfc1337 = 0)] The kernel closed")]
    [InlineData("(… 2 s.) the kernel's", "(… 2 s.) The kernel's")]
    [InlineData("6.5 ms apart; the kernel's 11 packets; there the connection", "6.5 ms apart; the kernel's 11 packets; there the connection")]
    public void A_sentence_that_begins_with_a_sides_name_begins_with_a_capital(string text, string expected) =>
        Assert.Equal(expected, VerdictBuilder.SentenceCase(text));

    /// <summary>
    /// fin-ack-only's text once read "(LAST-ACK)" for the kernel's path when the sampler's first read of the socket came
    /// after its short ESTABLISHED and CLOSE-WAIT: a path that starts past where connections start says what was missed.
    /// </summary>
    [Theory]
    [InlineData(new[] { "LAST-ACK", "CLOSED" }, "… → LAST-ACK → CLOSED")]
    [InlineData(new[] { "CLOSE-WAIT" }, "… → CLOSE-WAIT")]
    [InlineData(new[] { "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK" }, "ESTABLISHED → CLOSE-WAIT → LAST-ACK")]
    [InlineData(new[] { "SYN-SENT", "ESTABLISHED" }, "SYN-SENT → ESTABLISHED")]
    [InlineData(new[] { "CLOSED", "SYN-SENT" }, "CLOSED → SYN-SENT")]
    [InlineData(new string[0], "")]
    public void A_state_path_that_starts_late_shows_what_the_sampler_missed(string[] states, string expected) =>
        Assert.Equal(expected, LabRecord.Path(states.Select((s, i) => new StateSpan(TimeSpan.FromMilliseconds(i), s))));

    /// <summary>last-ack-lost's passive run at 7e8d58d began its observation "the kernel closed first" and a later sentence "the kernel, in TIME-WAIT, …".</summary>
    [Fact]
    public void Last_ack_losts_observation_begins_each_sentence_with_a_capital_when_the_kernel_closes_first()
    {
        RecordBuilder b = LabJudgeTests.LastAckLostPassive();
        b.KernelSample(Ms(8), KernelTcpState.TimeWait, KernelTcpTimer.TimeWait, expires: Ms(59_999));
        b.End = Ms(1200);

        LabVerdict verdict = LabCatalog.Find("last-ack-lost")!.Judge(b.Build("last-ack-lost", LabRole.UserTcpPassive));

        Assert.StartsWith("The kernel closed first and reached TIME-WAIT", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains(". The kernel, in TIME-WAIT, answered each FIN", verdict.Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// spurious-rto's active run at 7e8d58d: "the first one reached UserTcp 0.824 s" (an instant without its "at"), and
    /// "UserTcp's timer fired and resent 1 segment(s)" above a schedule that shows that segment resent twice before the ACK.
    /// </summary>
    [Fact]
    public void Spurious_rto_says_when_the_first_ack_arrived_and_how_often_the_timer_resent()
    {
        var b = new RecordBuilder(60829, 5021);
        b.Handshake(Ms(10), kernelConnects: false);
        for (uint i = 0; i < 4; i++) b.FromUserTcp(Ms(24 + (0.01 * i)), 1 + (i * 1448), TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(24.2), 1, TcpFlags.Ack, 1 + (4 * 1448));
        b.LastFault(new FaultNote(FaultAction.Delayed, "delayed (test)", FaultRule.Parse("delay=800ms from-kernel flags==ACK empty")));
        foreach (double at in new[] { 250.0, 650 })
        {
            b.FromUserTcp(Ms(at), 1, TcpFlags.Ack, 1, length: 1448);
            b.Event(new TcpEvent(Ms(at), TcpEventKind.Retransmission, default, Cause: TcpCause.RetransmissionTimeout));
        }
        b.FromKernel(Ms(651), 1, TcpFlags.Ack, 1 + (4 * 1448), sack: (1, 1449));
        b.LastFault(new FaultNote(FaultAction.Delayed, "delayed (test)", FaultRule.Parse("delay=800ms from-kernel flags==ACK empty")));
        b.Mark(Ms(900), LabSide.Kernel, "read 58400 bytes and the FIN, close()");
        b.End = Ms(1500);

        LabVerdict verdict = LabCatalog.Find("spurious-rto")!.Judge(b.Build("spurious-rto", LabRole.UserTcpActive));

        Assert.True(verdict.Observed.Contains("so the first one reached UserTcp at 0.824 s.", StringComparison.Ordinal), verdict.Observed);
        Assert.Contains("Before that UserTcp's timer fired and resent 1 segment(s), twice in all (seq 1 sent at 0.024 s, then again after +0.226 s, +0.400 s).",
            verdict.Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// rto-backoff's active run at 7e8d58d listed the gaps 0.201, 0.200, 0.401, 0.800, 1.603 s and then "each timeout doubles
    /// the next", without a word on why the first two gaps are equal: the first resend was a tail-loss probe, as its engine said.
    /// </summary>
    [Fact]
    public void Rto_backoff_says_the_first_resend_of_the_lone_segment_was_a_loss_probe()
    {
        var b = new RecordBuilder(5012, 40000);
        b.Handshake(Ms(12), kernelConnects: true);
        double[] sent = [113, 314, 514, 915, 1715, 3318];
        for (int i = 0; i < sent.Length; i++)
        {
            b.FromUserTcp(Ms(sent[i]), 1, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1000, dropped: i < 5);
            if (i == 0) continue;
            TcpCause cause = i == 1 ? TcpCause.TailLossProbe : TcpCause.RetransmissionTimeout;
            TimeSpan rto = Ms(200 * (1 << (i - 1)));
            b.Event(new TcpEvent(Ms(sent[i]), TcpEventKind.Retransmission, default, Cause: cause, Deadline: Ms(sent[i]) + rto));
        }
        b.FromKernel(Ms(3318.5), 1, TcpFlags.Ack, 1001);
        b.Mark(Ms(3322), LabSide.Kernel, "read() = 1000");
        b.End = Ms(3400);

        LabVerdict verdict = LabCatalog.Find("rto-backoff")!.Judge(b.Build("rto-backoff", LabRole.UserTcpActive));

        Assert.Contains("Its engine named the first resend a tail-loss probe (RFC 8985 §7), sent in a timeout's place; it armed RTOs of", verdict.Observed, StringComparison.Ordinal);
    }

    /// <summary>fin-no-reply's active run at 7e8d58d: "4 retransmissions (1 of them loss probes)".</summary>
    [Fact]
    public void Fin_no_reply_counts_one_loss_probe_in_the_singular()
    {
        var b = new RecordBuilder(5001, 50620);
        b.Handshake(Ms(26), kernelConnects: true);
        double[] fins = [45, 247, 449, 847, 1648];
        for (int i = 0; i < fins.Length; i++)
        {
            b.FromUserTcp(Ms(fins[i]), 1, TcpFlags.Fin | TcpFlags.Ack, 1);
            if (i > 0) b.Event(new TcpEvent(Ms(fins[i]), TcpEventKind.Retransmission, default, Cause: i == 1 ? TcpCause.TailLossProbe : TcpCause.RetransmissionTimeout));
        }
        b.Event(State(Ms(3248), TcpState.FinWait1, TcpState.Closed, TcpCause.RetransmissionsExhausted));
        b.End = Ms(3500);

        LabVerdict verdict = LabCatalog.Find("fin-no-reply")!.Judge(b.Build("fin-no-reply", LabRole.UserTcpActive));

        Expectation gaveUp = Assert.Single(verdict.Expectations, e => e.What.StartsWith("UserTcp gives up after its orphan retries", StringComparison.Ordinal));
        Assert.StartsWith("4 retransmissions (1 of them a loss probe), then CLOSED at 3.248 s", gaveUp.Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// close-wait-leak's passive run at 7e8d58d counted, under "CLOSE-WAIT only grows", 5 then 3 connections in CLOSE-WAIT:
    /// its counts took in the connections UserTcp's CLOSE-WAIT timeout closes, whose peers' FIN-WAIT-2 then end on that FIN,
    /// not on their own. The leak's counts are of the connections without the timeout.
    /// </summary>
    [Fact]
    public void Close_wait_leaks_counts_are_of_the_connections_nothing_closes_and_only_grow()
    {
        List<RecordBuilder> connections = [.. Enumerable.Range(0, 6).Select(i => CloseWaitClient(i, guarded: i % 2 == 1))];

        LabVerdict verdict = LabCatalog.Find("close-wait-leak")!.Judge(RecordBuilder.Build("close-wait-leak", LabRole.UserTcpPassive, connections));

        Assert.All(verdict.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Contains("Counts over time of the 3 without UserTcp's CLOSE-WAIT timeout (UserTcp CLOSE-WAIT / the kernel FIN-WAIT-2): ", verdict.Observed, StringComparison.Ordinal);
        int[] closeWait = [.. CloseWaitCounts().Matches(verdict.Observed).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.True(closeWait.Length >= 6, verdict.Observed);
        Assert.Equal(closeWait.Order(), closeWait); // "CLOSE-WAIT only grows"
        Assert.Equal(3, closeWait[^1]);
    }

    /// <summary>
    /// close-wait-leak's passive role, client i: the kernel connects 300 ms after the one before and closes at once; UserTcp's
    /// application never closes. On a guarded listener (5020) UserTcp's CLOSE-WAIT timeout closes it a second later, and the
    /// kernel's FIN-WAIT-2 ends on that FIN; otherwise the kernel's orphaned FIN-WAIT-2 times out after 3 s.
    /// </summary>
    internal static RecordBuilder CloseWaitClient(int i, bool guarded)
    {
        var b = new RecordBuilder(guarded ? (ushort)5020 : (ushort)5019, (ushort)(49000 + i));
        TimeSpan at = Ms(100 + (300 * i));
        b.Handshake(at, kernelConnects: true);
        b.Event(State(at, TcpState.Listen, TcpState.SynReceived, TcpCause.SynInListen));
        b.Event(State(at + Ms(1), TcpState.SynReceived, TcpState.Established, TcpCause.AckOfSyn));
        b.KernelSample(at, KernelTcpState.Established);
        b.FromKernel(at + Ms(2), 1, TcpFlags.Fin | TcpFlags.Ack, 1);
        b.Event(State(at + Ms(3), TcpState.Established, TcpState.CloseWait, TcpCause.FinReceived));
        b.FromUserTcp(at + Ms(3), 1, TcpFlags.Ack, 2);
        b.KernelSample(at + Ms(3), KernelTcpState.FinWait2);
        if (guarded)
        {
            b.Event(State(at + Ms(1003), TcpState.CloseWait, TcpState.LastAck, TcpCause.CloseWaitIdle));
            b.FromUserTcp(at + Ms(1003), 1, TcpFlags.Fin | TcpFlags.Ack, 2);
            b.FromKernel(at + Ms(1004), 2, TcpFlags.Ack, 2);
            b.KernelSample(at + Ms(1004), KernelTcpState.TimeWait);
            b.Event(State(at + Ms(1005), TcpState.LastAck, TcpState.Closed, TcpCause.AckOfOurFin));
        }
        else
        {
            b.KernelSample(at + Ms(3003), null);
        }
        b.End = Ms(6500);
        return b;
    }

    private static TcpEvent State(TimeSpan at, TcpState from, TcpState to, TcpCause cause) => new(at, TcpEventKind.StateChanged, default, from, to, cause);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [GeneratedRegex(@"(\d+) CLOSE-WAIT / ")]
    private static partial Regex CloseWaitCounts();
}
