using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The demo's ladder (<see cref="Ladder"/>, drawn from UserTcp's engine events) names a zero window as the lab's ladder
/// does: "win 0" on a segment's line, "N of them win 0" in a fold line; no other window, and never a SYN's or a RST's.
/// </summary>
public sealed class DemoLadderTests
{
    private const uint KernelIsn = 1000, UserTcpIsn = 5000;

    [Fact]
    public void A_zero_window_is_named_on_its_line_and_counted_in_a_fold_and_no_other_window_is()
    {
        TcpEvent[] events =
        [
            In(0, 0, TcpFlags.Syn, 0, window: 0), // a SYN's window is never named, not even zero
            Out(0.1, 0, TcpFlags.Syn | TcpFlags.Ack, 1),
            In(1, 1, TcpFlags.Ack, 1),
            State(1.1, TcpState.SynReceived, TcpState.Established, TcpCause.AckOfSyn),
            Out(2, 1, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448),
            In(3, 1, TcpFlags.Ack, 1449, window: 0), // the receiver's buffer is full: folded, counted
            In(4, 1, TcpFlags.Ack, 1449, window: 512), // its window update: folded, not counted
            State(5, TcpState.Established, TcpState.FinWait1, TcpCause.Close),
            Out(5, 1449, TcpFlags.Fin | TcpFlags.Ack, 1),
            In(6, 1, TcpFlags.Fin | TcpFlags.Ack, 1450, window: 0), // a FIN with a shut window: named on its line
            State(6.1, TcpState.FinWait1, TcpState.TimeWait, TcpCause.FinWithAckOfOurFin),
            Out(6.2, 1450, TcpFlags.Ack, 2),
            In(7, 2, TcpFlags.Rst, 0, window: 0), // a RST's window is never named
        ];

        string[] ladder = [.. Ladder.Draw(events)];

        Assert.Equal(2, ladder.Count(l => l.Contains("win", StringComparison.Ordinal)));
        Assert.Contains(ladder, l => l.Contains("⋮ 2 segments in (1 of them win 0), 1 segment out (1448 bytes of data)", StringComparison.Ordinal));
        Assert.Contains(ladder, l => l.Contains("[F.] seq 1 ack 1450 win 0 ", StringComparison.Ordinal));
        Assert.DoesNotContain(ladder, l => l.Contains("[S]", StringComparison.Ordinal) && l.Contains("win", StringComparison.Ordinal));
        Assert.DoesNotContain(ladder, l => l.Contains("[R]", StringComparison.Ordinal) && l.Contains("win", StringComparison.Ordinal));
    }

    private static TcpEvent In(double ms, uint seq, TcpFlags flags, uint ack, int length = 0, ushort window = 64240) =>
        new(TimeSpan.FromMilliseconds(ms), TcpEventKind.SegmentIn, default, Segment: new SegmentSummary(new SeqNumber(KernelIsn + seq), new SeqNumber(UserTcpIsn + ack), flags, length, window));

    private static TcpEvent Out(double ms, uint seq, TcpFlags flags, uint ack, int length = 0) =>
        new(TimeSpan.FromMilliseconds(ms), TcpEventKind.SegmentOut, default, Segment: new SegmentSummary(new SeqNumber(UserTcpIsn + seq), new SeqNumber(KernelIsn + ack), flags, length, 64240));

    private static TcpEvent State(double ms, TcpState from, TcpState to, TcpCause cause) =>
        new(TimeSpan.FromMilliseconds(ms), TcpEventKind.StateChanged, default, from, to, cause);
}
