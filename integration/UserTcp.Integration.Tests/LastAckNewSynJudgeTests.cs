using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// last-ack-new-syn's verdict on records made here (no root): the closer, keeping no TIME-WAIT, loses its final ACK and
/// connects again from the same port; the side in LAST-ACK must answer the SYN with a challenge ACK (not the RST seed 002
/// expects), the client must reset the old connection with it and resend its SYN soon after — whichever side closes.
/// </summary>
public sealed class LastAckNewSynJudgeTests
{
    private const ushort Port = 5015, ClientPort = 40210;
    private const uint NewIsn = 100_000;

    /// <summary>How one run goes: how the side in LAST-ACK answers the new SYN, how long the closer keeps TIME-WAIT, when its SYN goes again.</summary>
    private sealed record Run(TcpFlags Answer = TcpFlags.Ack, double TimeWaitMs = 0, double SynAgainAfterResetMs = 2, bool KernelLastAckSampledLate = false,
        bool KernelLastAckNotSampled = false, bool FinalAckArrived = false, bool KernelLastAckSampledAfterReset = false, bool ChallengedAgain = false);

    private static LabRecord Build(bool userTcpCloses, Run run)
    {
        var b = userTcpCloses ? new RecordBuilder(ClientPort, Port) : new RecordBuilder(Port, ClientPort);
        void FromCloser(TimeSpan at, uint seq, TcpFlags flags, uint? ack, bool dropped = false)
        {
            if (userTcpCloses) b.FromUserTcp(at, seq, flags, ack, dropped: dropped);
            else b.FromKernel(at, seq, flags, ack, dropped: dropped);
        }
        void FromWaiter(TimeSpan at, uint seq, TcpFlags flags, uint? ack)
        {
            if (userTcpCloses) b.FromKernel(at, seq, flags, ack);
            else b.FromUserTcp(at, seq, flags, ack);
        }
        LabSide closer = userTcpCloses ? LabSide.UserTcp : LabSide.Kernel;
        // The old connection, and its close: the closer's FIN, the waiter's FIN with its ACK, the final ACK dropped.
        FromCloser(Ms(0), 0, TcpFlags.Syn, null);
        FromWaiter(Ms(0.1), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
        FromCloser(Ms(0.2), 1, TcpFlags.Ack, 1);
        FromCloser(Ms(10), 1, TcpFlags.Fin | TcpFlags.Ack, 1);
        FromWaiter(Ms(10.5), 1, TcpFlags.Fin | TcpFlags.Ack, 2);
        FromCloser(Ms(10.6), 2, TcpFlags.Ack, 2, dropped: !run.FinalAckArrived);
        TimeSpan closed = Ms(10.6 + run.TimeWaitMs);
        // The new SYN, the waiter's answer, the closer's RST, and the SYN again that opens the new connection.
        TimeSpan syn = closed + Ms(1);
        FromCloser(syn, NewIsn, TcpFlags.Syn, null);
        TimeSpan answered = syn + Ms(0.1);
        FromWaiter(answered, 2, run.Answer, run.Answer == TcpFlags.Rst ? null : run.Answer.HasFlag(TcpFlags.Syn) ? NewIsn + 1 : 2);
        TimeSpan reset = answered + Ms(0.1);
        if (run.Answer == TcpFlags.Ack) FromCloser(reset, 2, TcpFlags.Rst, null);
        TimeSpan again = reset + Ms(run.SynAgainAfterResetMs);
        FromCloser(again, NewIsn, TcpFlags.Syn, null);
        if (run.ChallengedAgain) FromWaiter(again + Ms(0.1), 2, TcpFlags.Ack, 2);
        else FromWaiter(again + Ms(0.1), 5000, TcpFlags.Syn | TcpFlags.Ack, NewIsn + 1);
        FromCloser(again + Ms(0.2), NewIsn + 1, TcpFlags.Ack, 5001);
        TimeSpan established = again + Ms(0.3);
        b.Mark(syn - Ms(0.1), closer, $"connect() again from port {ClientPort} (no TIME-WAIT)");
        b.Mark(established, closer, userTcpCloses ? $"connect() succeeded from port {ClientPort}" : "connect() succeeded");
        if (userTcpCloses) b.UserTcpCounters["TcpExtTCPTimeWaitOverflow"] = run.TimeWaitMs == 0 ? 1 : 0;
        else b.KernelCounters["TcpExtTCPTimeWaitOverflow"] = run.TimeWaitMs == 0 ? 1 : 0;

        // The states: UserTcp's from its engine's events, the kernel's from its socket table.
        TcpState[] userTcp = userTcpCloses
            ? [TcpState.Closed, TcpState.SynSent, TcpState.Established, TcpState.FinWait1, TcpState.TimeWait, TcpState.Closed, TcpState.SynSent, TcpState.Established]
            : [TcpState.Listen, TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed, TcpState.SynReceived, TcpState.Established];
        TimeSpan[] userTcpAt = userTcpCloses
            ? [Ms(0), Ms(0.15), Ms(10), Ms(10.5), closed, syn - Ms(0.05), established]
            : [Ms(0), Ms(0.25), Ms(10), Ms(10.5), reset, again, established];
        for (int i = 0; i < userTcpAt.Length; i++)
            b.Event(new TcpEvent(userTcpAt[i], TcpEventKind.StateChanged, default, userTcp[i], userTcp[i + 1]));
        if (userTcpCloses)
        {
            b.KernelSample(Ms(0.3), KernelTcpState.Established);
            // A sampler that read the table just before LAST-ACK began and next only after the SYN arrived, or not before it was gone.
            if (!run.KernelLastAckNotSampled) b.KernelSample(run.KernelLastAckSampledLate ? syn + Ms(0.05) : Ms(10.5), KernelTcpState.LastAck);
            // The sampler's clock and UserTcp's differ: a sample stamped just after the RST may still read LAST-ACK.
            if (run.KernelLastAckSampledAfterReset) b.KernelSample(reset + Ms(0.05), KernelTcpState.LastAck);
            b.KernelSample(reset + Ms(0.1), null);
            b.KernelSample(established, KernelTcpState.Established);
        }
        else
        {
            b.KernelSample(Ms(0.3), KernelTcpState.Established);
            b.KernelSample(Ms(10.1), KernelTcpState.FinWait1);
            b.KernelSample(closed, KernelTcpState.Closed);
            b.KernelSample(syn - Ms(0.05), KernelTcpState.SynSent);
            b.KernelSample(established, KernelTcpState.Established);
        }
        return b.Build("last-ack-new-syn", userTcpCloses ? LabRole.UserTcpActive : LabRole.UserTcpPassive);
    }

    private static LabVerdict Judge(bool userTcpCloses, Run run) => LabCatalog.Find("last-ack-new-syn")!.Judge(Build(userTcpCloses, run));

    private static IReadOnlyList<string> Failed(bool userTcpCloses, Run run) =>
        [.. Judge(userTcpCloses, run).Expectations.Where(e => !e.Passed).Select(e => e.What)];

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_challenge_ack_the_clients_reset_and_its_syn_again_open_the_new_connection_and_refute_the_seed(bool userTcpCloses)
    {
        LabVerdict verdict = Judge(userTcpCloses, new Run());

        Assert.Empty(verdict.Expectations.Where(e => !e.Passed).Select(e => e.What));
        Assert.Equal(SeedAgreement.Disagrees, verdict.Agreement);
        Assert.Contains("acknowledging the old connection's FIN — a challenge ACK", verdict.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_reset_from_the_side_in_last_ack_fails_and_agrees_with_the_seed(bool userTcpCloses)
    {
        LabVerdict verdict = Judge(userTcpCloses, new Run(Answer: TcpFlags.Rst));
        string waiter = userTcpCloses ? "the kernel" : "UserTcp", closer = userTcpCloses ? "UserTcp" : "the kernel";

        Assert.Equal(SeedAgreement.Agrees, verdict.Agreement);
        IReadOnlyList<string> failed = [.. verdict.Expectations.Where(e => !e.Passed).Select(e => e.What)];
        Assert.Contains($"{waiter} answers the SYN with an ACK of the old connection (a challenge ACK, RFC 5961 §4; RFC 9293 §3.10.7.4) — not a RST, not a SYN-ACK", failed);
        Assert.Contains($"{closer}, in SYN-SENT, answers that ACK with a RST whose sequence number is the ACK's acknowledgment number (RFC 9293 §3.10.7.3)", failed);
    }

    [Fact]
    public void A_syn_ack_from_last_ack_fails()
    {
        Assert.Contains("UserTcp answers the SYN with an ACK of the old connection (a challenge ACK, RFC 5961 §4; RFC 9293 §3.10.7.4) — not a RST, not a SYN-ACK",
            Failed(userTcpCloses: false, new Run(Answer: TcpFlags.Syn | TcpFlags.Ack)));
    }

    [Fact]
    public void A_closer_that_kept_time_wait_fails()
    {
        Assert.Contains("UserTcp closes first and keeps no TIME-WAIT: its final ACK goes, and it is CLOSED at once (TcpExtTCPTimeWaitOverflow counted)",
            Failed(userTcpCloses: true, new Run(TimeWaitMs: 2000)));
    }

    [Theory]
    [InlineData(true, "UserTcp")]
    [InlineData(false, "the kernel")]
    public void A_syn_resent_only_at_the_initial_rto_fails(bool userTcpCloses, string closer)
    {
        Assert.Equal(
            [$"{closer} resends its SYN soon after its RST (within 200.0 ms, not at its initial RTO of 1.000 s), and that SYN opens the new connection"],
            Failed(userTcpCloses, new Run(SynAgainAfterResetMs: 1000)));
    }

    [Fact]
    public void The_kernels_last_ack_seen_first_in_the_sample_after_the_syn_still_counts()
    {
        LabVerdict verdict = Judge(userTcpCloses: true, new Run(KernelLastAckSampledLate: true));

        Assert.Empty(verdict.Expectations.Where(e => !e.Passed).Select(e => e.What));
        Assert.Contains("the kernel, in LAST-ACK, answered the SYN", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kernel_last_ack_no_sample_saw_counts_by_the_wire_and_not_once_its_fins_ack_arrived()
    {
        LabVerdict verdict = Judge(userTcpCloses: true, new Run(KernelLastAckNotSampled: true));

        Assert.Empty(verdict.Expectations.Where(e => !e.Passed).Select(e => e.What));
        Assert.Contains("on the wire, LAST-ACK", verdict.Expectations.Single(e => e.What.StartsWith("the new SYN finds", StringComparison.Ordinal)).Observed, StringComparison.Ordinal);
        Assert.Contains("the new SYN finds the kernel still in LAST-ACK",
            Failed(userTcpCloses: true, new Run(KernelLastAckNotSampled: true, FinalAckArrived: true)));
    }

    [Fact]
    public void A_last_ack_sample_just_after_the_reset_passes_and_a_syn_challenged_again_fails()
    {
        Assert.Empty(Failed(userTcpCloses: true, new Run(KernelLastAckSampledAfterReset: true)));
        Assert.Contains("the RST ends UserTcp's LAST-ACK: the SYN sent again draws a SYN-ACK, not another challenge, and UserTcp leaves LAST-ACK",
            Failed(userTcpCloses: false, new Run(ChallengedAgain: true)));
    }
}
