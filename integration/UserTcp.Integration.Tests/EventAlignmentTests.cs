using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>The lab's events of a received segment, matched to the packet UserTcp read (no root: records made here).</summary>
public sealed class EventAlignmentTests
{
    private static readonly FourTuple Connection = new(new IpEndpoint(Addresses.StackAddress, 5003), new IpEndpoint(Addresses.KernelAddress, 47278));

    [Fact]
    public void A_pass_that_runs_late_keeps_its_events_on_the_segment_it_read_not_on_a_later_identical_retransmission()
    {
        // CI's last-ack-lost run under load: the kernel's ACK and FIN were read at 117 ms and processed at 131 ms (FIN-WAIT-2,
        // then TIME-WAIT, and the ACK UserTcp sent); the kernel's retransmitted FIN, the same fields, was read at 318 ms.
        TcpSegmentInfo ack = Inbound(TcpFlags.Ack), fin = Inbound(TcpFlags.Fin | TcpFlags.Ack);
        WirePacket[] packets =
        [
            new(0, Ms(105), PacketDirection.Outbound, ack, [], null, null), // UserTcp's FIN, the other way
            new(1, Ms(117), PacketDirection.Inbound, ack, [], null, null),
            new(2, Ms(117.2), PacketDirection.Inbound, fin, [], null, null),
            new(3, Ms(318), PacketDirection.Inbound, fin, [], null, null),
        ];
        TcpEvent[] events =
        [
            SegmentIn(Ms(131), ack),
            State(Ms(131), TcpState.FinWait1, TcpState.FinWait2),
            SegmentIn(Ms(131), fin),
            State(Ms(131), TcpState.FinWait2, TcpState.TimeWait),
            SegmentIn(Ms(321), fin),
        ];

        IReadOnlyList<TcpEvent> aligned = EventAlignment.AlignToLink(events, packets);

        // TIME-WAIT began in the 131 ms pass, before the ACK it sent at 132 ms; not when the retransmission was read.
        Assert.Equal([Ms(131), Ms(131), Ms(131), Ms(131), Ms(321)], aligned.Select(e => e.Time));
    }

    [Fact]
    public void A_segment_read_just_after_its_pass_began_puts_the_pass_events_at_the_read_and_others_keep_their_times()
    {
        TcpSegmentInfo data = Inbound(TcpFlags.Ack | TcpFlags.Psh) with { PayloadLength = 100 };
        WirePacket[] packets = [new(0, Ms(50.5), PacketDirection.Inbound, data, [], null, null)];
        TcpEvent[] events =
        [
            new(Ms(40), TcpEventKind.TimerFired, Connection),
            SegmentIn(Ms(50), data),
            new(Ms(50), TcpEventKind.SegmentOut, Connection),
            new(Ms(60), TcpEventKind.TimerSet, Connection),
        ];

        IReadOnlyList<TcpEvent> aligned = EventAlignment.AlignToLink(events, packets);

        Assert.Equal([Ms(40), Ms(50.5), Ms(50.5), Ms(60)], aligned.Select(e => e.Time));
    }

    [Fact]
    public void An_event_with_no_packet_read_by_then_is_left_alone()
    {
        TcpSegmentInfo fin = Inbound(TcpFlags.Fin | TcpFlags.Ack);
        WirePacket[] packets = [new(0, Ms(300), PacketDirection.Inbound, fin, [], null, null)];

        IReadOnlyList<TcpEvent> aligned = EventAlignment.AlignToLink([SegmentIn(Ms(100), fin)], packets);

        Assert.Equal(Ms(100), Assert.Single(aligned).Time);
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static TcpSegmentInfo Inbound(TcpFlags flags) =>
        new(Addresses.KernelAddress, Addresses.StackAddress, 47278, 5003, new SeqNumber(1), new SeqNumber(2), flags, 64240, 0);

    private static TcpEvent SegmentIn(TimeSpan at, TcpSegmentInfo s) =>
        new(at, TcpEventKind.SegmentIn, Connection, Segment: new SegmentSummary(s.SequenceNumber, s.AcknowledgmentNumber, s.Flags, s.PayloadLength, s.Window));

    private static TcpEvent State(TimeSpan at, TcpState from, TcpState to) =>
        new(at, TcpEventKind.StateChanged, Connection, from, to);
}
