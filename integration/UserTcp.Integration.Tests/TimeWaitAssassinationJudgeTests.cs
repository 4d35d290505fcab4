using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// time-wait-assassination's verdict on records made here (no root): two connections closed with a held original
/// arriving in TIME-WAIT, as Linux and UserTcp play them, pass in either role; a holder that answers the old duplicate
/// twice, one that does not restart TIME-WAIT for it, one that lets the RST end TIME-WAIT under RFC 1337, and a kernel
/// whose TIME-WAIT runs on tcp_fin_timeout each fail the expectations about that, and only those.
/// </summary>
public sealed class TimeWaitAssassinationJudgeTests
{
    private sealed record Holder(int AcksPerDuplicate = 1, bool RestartsOnDuplicate = true, bool IgnoresRstUnderRfc1337 = true, bool KernelTimeWaitIsFinTimeout = false);

    private static readonly TimeSpan Open = TimeSpan.FromMilliseconds(100), Resend = TimeSpan.FromMilliseconds(320), Close = TimeSpan.FromMilliseconds(330);
    private static readonly TimeSpan UserTcpTimeWait = TimeSpan.FromSeconds(3);
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    // One connection, from the handshake to the RST its held original draws. Sequence numbers relative to each side's ISN:
    // the request is 100 bytes from the side that is closed by then; the holder's FIN is its seq 1, the other's at 101 (or 1).
    private static RecordBuilder Connection(bool userTcpHolds, ushort port, bool rfc1337, Holder holder)
    {
        var b = userTcpHolds ? new RecordBuilder(port, 40000) : new RecordBuilder(40000, port);
        b.Config = new TcpConfig { TimeWait = UserTcpTimeWait };
        b.Handshake(Open, kernelConnects: userTcpHolds);
        TimeSpan reached = Open + TimeWaitAssassination.Hold + Ms(10), enteredTimeWait = Close + Ms(3);
        TimeSpan rstAt = reached + Ms(2);
        if (userTcpHolds)
        {
            // The kernel's request, held 2 s (recorded when the kernel sent it), its resend, then UserTcp closes first.
            b.FromKernel(Open + Ms(10), 1, TcpFlags.Ack | TcpFlags.Psh, 1, 100);
            b.LastFault(FaultAction.Delayed);
            b.FromKernel(Resend, 1, TcpFlags.Ack | TcpFlags.Psh, 1, 100);
            b.FromUserTcp(Resend + Ms(1), 1, TcpFlags.Ack, 101);
            b.FromUserTcp(Close, 1, TcpFlags.Fin | TcpFlags.Ack, 101);
            b.FromKernel(Close + Ms(1), 101, TcpFlags.Ack, 2);
            b.FromKernel(Close + Ms(2), 101, TcpFlags.Fin | TcpFlags.Ack, 2);
            b.FromUserTcp(enteredTimeWait, 2, TcpFlags.Ack, 102);
            for (int i = 0; i < holder.AcksPerDuplicate; i++) b.FromUserTcp(reached + Ms(0.5 + i * 0.1), 2, TcpFlags.Ack, 102);
            b.FromKernel(rstAt, 102, TcpFlags.Rst, null);
            b.Event(new TcpEvent(Open, TcpEventKind.StateChanged, default, TcpState.Listen, TcpState.SynReceived));
            b.Event(new TcpEvent(Open + Ms(0.4), TcpEventKind.StateChanged, default, TcpState.SynReceived, TcpState.Established));
            b.Event(new TcpEvent(Close, TcpEventKind.StateChanged, default, TcpState.Established, TcpState.FinWait1));
            b.Event(new TcpEvent(enteredTimeWait, TcpEventKind.StateChanged, default, TcpState.FinWait1, TcpState.TimeWait));
            TimeSpan closed = !rfc1337 || !holder.IgnoresRstUnderRfc1337 ? rstAt + Ms(0.1)
                : holder.RestartsOnDuplicate ? reached + Ms(0.5) + UserTcpTimeWait : enteredTimeWait + UserTcpTimeWait;
            b.Event(new TcpEvent(closed, TcpEventKind.StateChanged, default, TcpState.TimeWait, TcpState.Closed));
            b.KernelSample(Open + Ms(1), KernelTcpState.Established);
            b.KernelSample(Close + Ms(2), KernelTcpState.LastAck);
            b.KernelSample(enteredTimeWait + Ms(1), null);
            b.End = closed + Ms(200);
            return b;
        }
        // UserTcp's request, held 2 s (recorded when the link handed it to the kernel), its resend, then the kernel closes first.
        b.FromUserTcp(Resend, 1, TcpFlags.Ack | TcpFlags.Psh, 1, 100);
        b.FromKernel(Resend + Ms(1), 1, TcpFlags.Ack, 101);
        b.FromKernel(Close, 1, TcpFlags.Fin | TcpFlags.Ack, 101);
        b.FromUserTcp(Close + Ms(1), 101, TcpFlags.Ack, 2);
        b.FromUserTcp(Close + Ms(2), 101, TcpFlags.Fin | TcpFlags.Ack, 2);
        b.FromKernel(enteredTimeWait, 2, TcpFlags.Ack, 102);
        b.FromUserTcp(reached, 1, TcpFlags.Ack | TcpFlags.Psh, 1, 100);
        b.LastFault(FaultAction.Delayed);
        for (int i = 0; i < holder.AcksPerDuplicate; i++) b.FromKernel(reached + Ms(0.5 + i * 0.1), 2, TcpFlags.Ack, 102);
        b.FromUserTcp(rstAt, 102, TcpFlags.Rst, null);
        b.Event(new TcpEvent(Open, TcpEventKind.StateChanged, default, TcpState.Closed, TcpState.SynSent));
        b.Event(new TcpEvent(Open + Ms(0.2), TcpEventKind.StateChanged, default, TcpState.SynSent, TcpState.Established));
        b.Event(new TcpEvent(Close, TcpEventKind.StateChanged, default, TcpState.Established, TcpState.CloseWait));
        b.Event(new TcpEvent(Close + Ms(2), TcpEventKind.StateChanged, default, TcpState.CloseWait, TcpState.LastAck));
        b.Event(new TcpEvent(enteredTimeWait, TcpEventKind.StateChanged, default, TcpState.LastAck, TcpState.Closed));
        TimeSpan length = holder.KernelTimeWaitIsFinTimeout ? TimeSpan.FromSeconds(3) : TimeWaitAssassination.LinuxTimeWait;
        b.KernelSample(Open + Ms(1), KernelTcpState.Established);
        b.KernelSample(Close, KernelTcpState.FinWait1, KernelTcpTimer.Retransmit, expires: Ms(200));
        // An orphaned FIN-WAIT-2 in its mini-socket: the timewait timer on tcp_fin_timeout, before the peer's FIN.
        b.KernelSample(Close + Ms(1), KernelTcpState.FinWait2, KernelTcpTimer.TimeWait, expires: TimeSpan.FromSeconds(3));
        b.KernelSample(enteredTimeWait + Ms(0.5), KernelTcpState.TimeWait, KernelTcpTimer.TimeWait, expires: length);
        if (!rfc1337 || !holder.IgnoresRstUnderRfc1337) b.KernelSample(rstAt + Ms(1), null);
        else if (holder.RestartsOnDuplicate) b.KernelSample(reached + Ms(1), KernelTcpState.TimeWait, KernelTcpTimer.TimeWait, expires: length);
        b.End = rstAt + TimeSpan.FromSeconds(1.5);
        return b;
    }

    private static LabVerdict Judge(bool userTcpHolds, Holder holder)
    {
        // The second connection comes after the first: its builder's times are shifted by the record's order of ports only.
        RecordBuilder first = Connection(userTcpHolds, 5070, rfc1337: false, holder), second = Connection(userTcpHolds, 5071, rfc1337: true, holder);
        first.End = second.End;
        return LabCatalog.Find("time-wait-assassination")!.Judge(RecordBuilder.Build("time-wait-assassination",
            userTcpHolds ? LabRole.UserTcpActive : LabRole.UserTcpPassive, [first, second]));
    }

    private static string[] Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linux_behaviour_passes_in_either_role(bool userTcpHolds)
    {
        LabVerdict v = Judge(userTcpHolds, new Holder());
        Assert.Empty(Failed(v));
        Assert.Equal(userTcpHolds ? 9 : 10, v.Expectations.Count);
        Assert.Equal(SeedAgreement.Disagrees, v.Agreement);
        Assert.Contains(userTcpHolds ? "Role passive shows the rest" : "TCP_TIMEWAIT_LEN", v.AgreementWhy, StringComparison.Ordinal);
    }

    /// <summary>
    /// At 7e8d58d an expectation read "it arrived 2.020 s with UserTcp in TIME-WAIT" (an instant without its "at"), and the
    /// retransmission lines showed the first connection's resend alone, without saying which connection it was.
    /// </summary>
    [Fact]
    public void The_verdict_says_when_each_original_arrived_and_lists_both_connections_resends()
    {
        LabVerdict v = Judge(userTcpHolds: true, new Holder());
        Assert.All(v.Expectations.Where(e => e.What.Contains("the held original reaches", StringComparison.Ordinal)),
            e => Assert.StartsWith("it arrived at 2.", e.Observed, StringComparison.Ordinal));
        Assert.Equal(["40000 ↔ 5070: data", "40000 ↔ 5071: data"], v.KernelSchedule.Select(l => l[..18]));
    }

    /// <summary>
    /// The ACK and RST lines printed the numbers as on the wire ("ack 1102", "RST seq 1102 for ack 1102") beside a
    /// ladder that counts from each side's ISN ("ack 102"): now they count as the ladder does.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_ack_and_rst_lines_give_sequence_numbers_relative_to_each_sides_isn(bool userTcpHolds)
    {
        LabVerdict v = Judge(userTcpHolds, new Holder());
        Assert.All(v.Expectations.Where(e => e.What.Contains("answers it with one ACK", StringComparison.Ordinal)),
            e => Assert.Equal("1 segment(s): [.] ack 102", e.Observed));
        Assert.All(v.Expectations.Where(e => e.What.Contains("answers that ACK with one RST", StringComparison.Ordinal)),
            e => Assert.Equal("RST seq 102 for ack 102; 1 segment(s)", e.Observed));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Answering_the_old_duplicate_twice_fails_only_the_one_ack_expectations(bool userTcpHolds)
    {
        string[] failed = Failed(Judge(userTcpHolds, new Holder(AcksPerDuplicate: 2)));
        Assert.Equal(2, failed.Length);
        Assert.All(failed, f => Assert.Contains("answers it with one ACK", f, StringComparison.Ordinal));
    }

    [Fact]
    public void Not_restarting_time_wait_for_the_old_duplicate_fails_only_that_expectation()
    {
        string[] failed = Failed(Judge(userTcpHolds: true, new Holder(RestartsOnDuplicate: false)));
        Assert.Equal(["[RFC 1337 (TimeWaitRst Ignore)] the old duplicate restarts TIME-WAIT: it ends 2MSL after it, not after the close"], failed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Letting_the_rst_end_time_wait_under_rfc_1337_fails_the_rfc_1337_connection_only(bool userTcpHolds)
    {
        string[] failed = Failed(Judge(userTcpHolds, new Holder(IgnoresRstUnderRfc1337: false)));
        Assert.Contains(failed, f => f.Contains("the RST is ignored", StringComparison.Ordinal));
        Assert.All(failed, f => Assert.StartsWith("[RFC 1337", f, StringComparison.Ordinal));
    }

    [Fact]
    public void A_kernel_time_wait_on_tcp_fin_timeout_fails_only_the_length_expectations()
    {
        string[] failed = Failed(Judge(userTcpHolds: false, new Holder(KernelTimeWaitIsFinTimeout: true)));
        Assert.Contains("the kernel's TIME-WAIT timer starts at 60 s (TCP_TIMEWAIT_LEN), whatever tcp_fin_timeout is", failed);
        // A 3 s TIME-WAIT cannot show its timer jump back to 60 s either.
        Assert.All(failed, f => Assert.Matches("TCP_TIMEWAIT_LEN|restarts the kernel's TIME-WAIT", f));
    }
}
