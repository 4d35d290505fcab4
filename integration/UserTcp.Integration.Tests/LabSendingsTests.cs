using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Which sending of a segment each packet was (<see cref="LabRecord.Sendings"/>), as the verdicts' schedules, the ladder
/// and the graphs all count it, on records made here (no root).
/// </summary>
public sealed class LabSendingsTests
{
    private static readonly FaultRule Hold = FaultRule.Parse("delay=400ms to-kernel data nth=5");

    /// <summary>
    /// reordering's active run at 7e8d58d: the delay line took UserTcp's segment at 15.666 ms and, on a busy machine, handed
    /// it on 403.4 ms later; UserTcp resent it 0.7 ms after the original. Timed by the rule's 400 ms, the original seemed
    /// sent at 19.1 ms, after its resend: the ladder called the held original "retransmission #1" and folded the resend
    /// away, the graph put its marker on the original, and the schedule read "then again after +0.003 s".
    /// </summary>
    [Fact]
    public void A_held_original_the_delay_line_handed_on_late_is_the_first_sending_by_the_links_own_note()
    {
        var b = new RecordBuilder(37449, 5024);
        b.Handshake(Ms(10), kernelConnects: false);
        b.FromUserTcp(Ms(16.366), 1, TcpFlags.Ack, 1, length: 1448); // the resend, which overtook the original
        b.FromUserTcp(Ms(419.066), 1, TcpFlags.Ack, 1, length: 1448); // the original, as the link handed it on
        // The instant the link took it comes as the note's value, not from its words (which need not say it).
        b.LastFault(new FaultNote(FaultAction.Delayed, "delayed 400 ms on the way to the kernel", Hold) { TookAt = Ms(15.666) });
        b.FromKernel(Ms(419.5), 1, TcpFlags.Ack, 1449, sack: (1, 1449));
        b.End = Ms(500);
        LabRecord r = b.Build("reordering", LabRole.UserTcpActive);
        FourTuple c = r.Connections[0];

        WirePacket original = r.Packets.Single(p => p.Fault is not null);
        Assert.Equal(Ms(15.666), original.SentAt);
        Transmissions data = r.Sent(c, LabSide.UserTcp).Single(t => t.RelativeSeq == 1);
        Assert.Equal([Ms(15.666), Ms(16.366)], data.Times);
        Assert.Equal([original, r.Packets.Single(p => p.At == Ms(16.366))], r.Sendings(c).Where(s => s.Packet.ToKernel && s.Packet.Segment.PayloadLength > 0).Select(s => s.Packet));

        IReadOnlyList<string> ladder = LabLadder.Draw(r, c);
        Assert.Contains("retransmission #1", Line(ladder, "0.016"), StringComparison.Ordinal);
        Assert.DoesNotContain("retransmission", Line(ladder, "0.419"), StringComparison.Ordinal);
    }

    // The ladder's line of a packet at that time ("    0.016  ...").
    private static string Line(IReadOnlyList<string> ladder, string time) =>
        Assert.Single(ladder, l => l.StartsWith(time.PadLeft(9), StringComparison.Ordinal) && l.Contains("seq 1:1449", StringComparison.Ordinal));

    private static TimeSpan Ms(double ms) => TimeSpan.FromTicks((long)Math.Round(ms * TimeSpan.TicksPerMillisecond));
}
