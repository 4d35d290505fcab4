using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// lost-retransmission's verdict on records made here (no root), shaped as real runs were: the sender's third segment
/// and its first retransmission are lost; SACKs of data sent after that retransmission show it lost and it goes a third
/// time within milliseconds. RACK's recovery passes in both roles; a second loss found only by the timer fails.
/// </summary>
public sealed class LostRetransmissionJudgeTests
{
    private const int Mss = 1448;
    private const uint Hole = 2897;

    /// <param name="secondAfter">When the third sending goes, after the first retransmission (ms).</param>
    /// <param name="newData">Whether the sender sends new data between the two retransmissions.</param>
    /// <param name="secondCause">UserTcp's engine's cause for the second retransmission (active role).</param>
    private static LabVerdict Judge(bool userTcpSends, double secondAfter = 2.3, bool newData = true, TcpCause secondCause = TcpCause.RackLoss,
        long lostRetransmits = 1, long timeouts = 0)
    {
        var b = new RecordBuilder(5029, 40700);
        void Data(TimeSpan at, uint seq, bool dropped = false)
        {
            if (userTcpSends) b.FromUserTcp(at, seq, TcpFlags.Ack, 1, Mss, dropped);
            else b.FromKernel(at, seq, TcpFlags.Ack, 1, Mss, dropped);
        }
        void Sack(TimeSpan at, uint right)
        {
            if (userTcpSends) b.FromKernel(at, 1, TcpFlags.Ack, Hole, sack: (Hole + Mss, right));
            else b.FromUserTcp(at, 1, TcpFlags.Ack, Hole, sack: (Hole + Mss, right));
        }
        void Resent(TimeSpan at, TcpCause cause, bool dropped)
        {
            Data(at, Hole, dropped);
            if (!userTcpSends) return;
            b.Event(new TcpEvent(at, TcpEventKind.Retransmission, default, TcpState.Established, TcpState.Established, cause,
                new SegmentSummary(new SeqNumber(RecordBuilder.UserTcpIsn + Hole), new SeqNumber(RecordBuilder.KernelIsn + 1), TcpFlags.Ack, Mss, 502),
                Deadline: at + TimeSpan.FromSeconds(1)));
        }
        b.Handshake(Ms(0), kernelConnects: !userTcpSends);
        for (int i = 0; i < 10; i++) Data(Ms(20 + 0.1 * i), (uint)(1 + i * Mss), dropped: i == 2);
        if (userTcpSends) b.FromKernel(Ms(21), 1, TcpFlags.Ack, Hole);
        else b.FromUserTcp(Ms(21), 1, TcpFlags.Ack, Hole);
        for (int i = 3; i < 10; i++) Sack(Ms(21.1 + 0.1 * i), (uint)(1 + (i + 1) * Mss));
        TimeSpan first = Ms(22.5);
        Resent(first, TcpCause.RackLoss, dropped: true);
        uint next = 1 + 10 * Mss;
        if (newData)
        {
            for (int i = 0; i < 3; i++) Data(first + Ms(0.1 * (i + 1)), next + (uint)(i * Mss));
            for (int i = 0; i < 3; i++) Sack(first + Ms(1 + 0.1 * i), next + (uint)((i + 1) * Mss));
        }
        Resent(first + Ms(secondAfter), secondCause, dropped: false);
        b.Mark(Ms(2000), userTcpSends ? LabSide.Kernel : LabSide.UserTcp, userTcpSends ? "read 40000 bytes and the FIN, close()" : "read 64000 bytes and the FIN, close()");
        Dictionary<string, long> senderCounters = userTcpSends ? b.UserTcpCounters : b.KernelCounters;
        senderCounters["TcpExtTCPLostRetransmit"] = lostRetransmits;
        senderCounters["TcpExtTCPTimeouts"] = timeouts;
        senderCounters["TcpExtTCPSackRecovery"] = 1;
        senderCounters["TcpExtTCPFastRetrans"] = timeouts == 0 ? 2 : 1; // the timer's own resend counts as neither
        return LabCatalog.Find("lost-retransmission")!.Judge(b.Build("lost-retransmission", userTcpSends ? LabRole.UserTcpActive : LabRole.UserTcpPassive));
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static IReadOnlyList<string> Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Racks_recovery_passes(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends);
        Assert.Empty(Failed(verdict));
        Assert.Contains("3 data segments sent between the two", string.Join("\n", verdict.Expectations.Select(e => e.Observed)), StringComparison.Ordinal);
        Assert.Contains("resent it again 2.3 ms later", verdict.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_second_loss_found_by_the_timer_fails(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends, secondAfter: 1000, newData: false, secondCause: TcpCause.RetransmissionTimeout, lostRetransmits: 0, timeouts: 1);
        Assert.Contains("the lost retransmission is found without a timeout: the segment goes a third time well within the minimum RTO (1.000 s), on a SACK of data sent after the retransmission",
            Failed(verdict));
        Assert.Contains($"{(userTcpSends ? "UserTcp" : "the kernel")} counts a lost retransmission and no timeout (TcpExtTCPLostRetransmit, TcpExtTCPTimeouts)", Failed(verdict));
        if (userTcpSends) Assert.Contains("UserTcp's engine names the second retransmission's cause: RACK, not a timeout", Failed(verdict));
        // The timer's resend is no fast retransmit: one of the two resends is left.
        Assert.Contains($"{(userTcpSends ? "UserTcp" : "the kernel")} counts one SACK recovery, both resends in it fast retransmits (TcpExtTCPSackRecovery, TcpExtTCPFastRetrans)",
            Failed(verdict));
    }

    [Fact]
    public void A_quick_third_sending_without_new_data_sacked_since_the_retransmission_is_not_racks_signal()
    {
        LabVerdict verdict = Judge(userTcpSends: false, newData: false);
        Assert.Equal(["the lost retransmission is found without a timeout: the segment goes a third time well within the minimum RTO (1.000 s), on a SACK of data sent after the retransmission"],
            Failed(verdict));
    }

    [Fact]
    public void A_retransmission_that_got_through_the_first_time_fails_the_premise()
    {
        var b = new RecordBuilder(5029, 40700);
        b.Handshake(Ms(0), kernelConnects: true);
        for (int i = 0; i < 5; i++) b.FromKernel(Ms(20 + 0.1 * i), (uint)(1 + i * Mss), TcpFlags.Ack, 1, Mss, dropped: i == 2);
        b.FromUserTcp(Ms(21), 1, TcpFlags.Ack, Hole, sack: (Hole + Mss, 1 + 5 * Mss));
        b.FromKernel(Ms(21.5), Hole, TcpFlags.Ack, 1, Mss);
        b.Mark(Ms(100), LabSide.UserTcp, "read 64000 bytes and the FIN, close()");
        b.KernelCounters["TcpExtTCPLostRetransmit"] = 0;
        LabVerdict verdict = LabCatalog.Find("lost-retransmission")!.Judge(b.Build("lost-retransmission", LabRole.UserTcpPassive));
        Assert.Contains("the segment is lost, its first retransmission is lost too, and the second gets through", Failed(verdict));
    }
}
