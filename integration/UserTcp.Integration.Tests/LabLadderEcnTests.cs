using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The lab's ladder shows ECN as tcpdump does — E (ECE) and W (CWR) among the flags, "[SEW]", "[S.E]" — and "CE" on a
/// packet that arrived congestion-experienced, with the link's mark in the note column as a drop's is; segments that
/// carry a congestion signal never fold, and ladders without ECN are as before. Records made here (no root).
/// </summary>
public sealed class LabLadderEcnTests
{
    private static readonly FaultRule Mark = FaultRule.Parse("mark to-kernel data nth=3");

    /// <summary>
    /// UserTcp sends with ECN agreed: ten ECT(0) data segments and their ACKs; the link marks the third CE, the kernel
    /// echoes ECE on its ACKs until UserTcp's next new segment carries CWR; the rest of the transfer folds.
    /// </summary>
    private static RecordBuilder Transfer(bool ecn = true)
    {
        var b = new RecordBuilder(40600, 5040);
        if (ecn)
        {
            b.FromUserTcp(Ms(0), 0, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, null);
            b.FromKernel(Ms(1), 0, TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, 1);
            b.FromUserTcp(Ms(2), 1, TcpFlags.Ack, 1);
        }
        else
        {
            b.Handshake(Ms(0), kernelConnects: false);
        }
        for (int i = 0; i < 20; i++)
        {
            uint seq = (uint)(1 + i * 1000);
            bool marked = ecn && i == 2, cwr = ecn && i == 5;
            b.FromUserTcp(Ms(10 + 2 * i), seq, cwr ? TcpFlags.Ack | TcpFlags.Cwr : TcpFlags.Ack, 1, length: 1000);
            if (ecn) b.LastEcn(marked ? EcnCodepoint.Ce : EcnCodepoint.Ect0, marked ? Mark : null);
            bool echo = ecn && i is >= 2 and < 5;
            b.FromKernel(Ms(11 + 2 * i), 1, echo ? TcpFlags.Ack | TcpFlags.Ece : TcpFlags.Ack, seq + 1000);
            // UserTcp's engine takes the first echo and cuts once.
            if (ecn && i == 2) b.Event(new TcpEvent(Ms(15.6), TcpEventKind.CongestionWindowReduced, default, TcpState.Established, TcpState.Established, TcpCause.EcnEcho));
        }
        return b;
    }

    private static IReadOnlyList<string> Ladder(RecordBuilder b) => LabLadder.Draw(b.Build("ecn", LabRole.UserTcpActive), b.Connection);

    private static string At(IReadOnlyList<string> ladder, double ms) =>
        Assert.Single(ladder, l => l.StartsWith((ms / 1000).ToString("0.000", CultureInfo.InvariantCulture).PadLeft(9) + "  ", StringComparison.Ordinal) && l.Contains('['));

    [Fact]
    public void The_handshake_shows_ece_and_cwr_as_tcpdump_does()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        Assert.Contains("◀──", At(ladder, 0), StringComparison.Ordinal);
        Assert.Contains("[SEW] seq 0 ──", At(ladder, 0), StringComparison.Ordinal);
        Assert.Contains("── [S.E] seq 0 ack 1 ──", At(ladder, 1), StringComparison.Ordinal);
    }

    [Fact]
    public void A_marked_segment_says_ce_and_the_rule_and_the_echo_and_the_answer_do_not_fold()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        string marked = At(ladder, 14);
        Assert.Contains("[.] seq 2001:3001 ack 1 CE ──", marked, StringComparison.Ordinal);
        Assert.EndsWith("CE-marked (rule 'mark to-kernel data nth=3')", marked, StringComparison.Ordinal);
        Assert.DoesNotContain('✗', marked);
        foreach (double ms in new[] { 15.0, 17, 19 }) Assert.Contains("── [.E] seq 1 ack ", At(ladder, ms), StringComparison.Ordinal);
        Assert.Contains("[.W] seq 5001:6001 ack 1 ──", At(ladder, 20), StringComparison.Ordinal);
        // UserTcp's cut stands in its own column, once, between the echo it took and its next segment.
        int cut = Assert.Single(Enumerable.Range(0, ladder.Count), i => ladder[i].TrimEnd().EndsWith("cwnd reduced (ECN echo)", StringComparison.Ordinal));
        Assert.StartsWith("    0.016  " + new string(' ', 24 + 44 + 2) + "cwnd reduced", ladder[cut], StringComparison.Ordinal);
        Assert.Contains("[.E] seq 1 ack 3001", ladder[cut - 1], StringComparison.Ordinal);
        // Only the one marked segment says CE; the ECT(0) ones say nothing of ECN.
        Assert.Single(ladder, l => l.Contains(" CE ", StringComparison.Ordinal));
        // The quiet tail still folds: the CWR's ACK and the 28 segments after it, two shown at each end.
        Assert.Contains(ladder, l => l.Contains("⋮ 25 more segments: 13 from the kernel (0 bytes of data), 12 from UserTcp (12000 bytes of data)", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_ecn_the_ladder_is_as_it_was()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer(ecn: false));

        Assert.DoesNotContain(ladder, l => l.Contains(" CE ", StringComparison.Ordinal) || l.Contains("E]", StringComparison.Ordinal) || l.Contains("W]", StringComparison.Ordinal));
        Assert.Contains(ladder, l => l.Contains("⋮ 37 more segments: 19 from the kernel (0 bytes of data), 18 from UserTcp (18000 bytes of data)", StringComparison.Ordinal));
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);
}
