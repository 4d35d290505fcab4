using Microsoft.Extensions.Time.Testing;
using UserTcp.Testing;
using static UserTcp.Link.Tests.FaultInjectingDeviceTests;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

/// <summary>
/// The <c>mark</c> action and the <c>ecn=</c> selector: CE set on ECN-capable packets as an AQM router sets it (RFC 3168
/// §5), the IPv4 header checksum rewritten and the TCP checksum still good; a Not-ECT packet passes as it was, untouched
/// and uncounted.
/// </summary>
public class FaultMarkTests
{
    private static (FaultInjectingDevice Device, FakeTun Tun, RecordingTap Tap, List<FaultEvent> Faults) Rig(params string[] rules)
    {
        var time = new FakeTimeProvider();
        var tun = new FakeTun(time);
        var tap = new RecordingTap();
        var device = new FaultInjectingDevice(tun, rules.Select(FaultRule.Parse), seed: 1, time, tap: tap);
        var faults = new List<FaultEvent>();
        device.OnFault = faults.Add;
        return (device, tun, tap, faults);
    }

    private static byte[] Ect0Data(uint seq, bool fromServer = false) =>
        Tcp(TcpFlags.Ack | TcpFlags.Psh, seq, ack: 1, payloadLength: 10, fromServer: fromServer, ecn: EcnCodepoint.Ect0);

    // Both checksums verified, as the receiver's parse does.
    private static (EcnCodepoint Ecn, TcpSegmentInfo Segment) Valid(byte[] packet)
    {
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment _));
        Assert.True(TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo info));
        return (ip.Ecn, info);
    }

    [Fact]
    public void Mark_sets_ce_on_the_nth_ect_data_segment_to_the_kernel_with_both_checksums_valid_and_nothing_else_changed()
    {
        var (device, tun, tap, faults) = Rig("mark to-kernel data nth=2");
        byte[] second = Ect0Data(11);
        device.Write(Ect0Data(1));
        device.Write(second);
        device.Write(Ect0Data(21));

        Assert.Equal([1u, 11u, 21u], tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal([EcnCodepoint.Ect0, EcnCodepoint.Ce, EcnCodepoint.Ect0], tun.ToKernel.Select(w => Valid(w.Packet).Ecn));
        byte[] marked = tun.ToKernel[1].Packet;
        // Only the ECN bits and the header checksum differ; the TCP header and payload (and so its checksum) are the original's.
        int[] differ = [.. Enumerable.Range(0, marked.Length).Where(i => marked[i] != second[i])];
        Assert.Equal(1, differ[0]);
        Assert.All(differ.Skip(1), i => Assert.InRange(i, 10, 11));
        Assert.Equal(second[20..], marked[20..]);

        FaultEvent fault = Assert.Single(faults);
        Assert.Equal(FaultAction.Marked, fault.Action);
        Assert.Equal("CE-marked by rule 'mark to-kernel data nth=2': ECT(0) → CE on the way to the kernel", fault.Detail);
        var record = Assert.Single(tap.Records, r => r.Fault is not null);
        Assert.Equal(marked, record.Packet);
        Assert.Equal(FaultAction.Marked, record.Fault!.Value.Action);
        Assert.Equal(1, device.Rules[0].Applied);
        Assert.Equal(1, device.Counters.Marked);
        Assert.Equal((3, 3), (device.Counters.Transmitted, device.Counters.Forwarded));
    }

    [Fact]
    public void A_not_ect_packet_passes_unchanged_uncounted_and_unlogged_and_still_takes_its_place_in_the_count()
    {
        var (device, tun, tap, faults) = Rig("mark to-kernel data nth=1..2");
        byte[] plain = Tcp(TcpFlags.Ack | TcpFlags.Psh, 1, ack: 1, payloadLength: 10);
        device.Write(plain);
        device.Write(Ect0Data(11));
        device.Write(Ect0Data(21));

        Assert.Equal(plain, tun.ToKernel[0].Packet);
        Assert.Equal([EcnCodepoint.NotEct, EcnCodepoint.Ce, EcnCodepoint.Ect0], tun.ToKernel.Select(w => Valid(w.Packet).Ecn));
        Assert.Single(faults);
        Assert.Single(tap.Records, r => r.Fault is not null);
        Assert.Equal(1, device.Rules[0].Applied);
        Assert.Equal(1, device.Counters.Marked);
    }

    [Fact]
    public void Ecn_ect_counts_only_ecn_capable_packets_and_a_ce_packet_is_left_as_it_is()
    {
        var (device, tun, _, faults) = Rig("mark to-kernel ecn=ect nth=2");
        device.Write(Tcp(TcpFlags.Ack, 1, ack: 1)); // Not-ECT: not selected, not counted
        device.Write(Tcp(TcpFlags.Ack | TcpFlags.Psh, 1, ack: 1, payloadLength: 10, ecn: EcnCodepoint.Ect1));
        device.Write(Tcp(TcpFlags.Ack | TcpFlags.Psh, 11, ack: 1, payloadLength: 10, ecn: EcnCodepoint.Ect1));
        device.Write(Tcp(TcpFlags.Ack | TcpFlags.Psh, 21, ack: 1, payloadLength: 10, ecn: EcnCodepoint.Ce));

        Assert.Equal([EcnCodepoint.NotEct, EcnCodepoint.Ect1, EcnCodepoint.Ce, EcnCodepoint.Ce], tun.ToKernel.Select(w => Valid(w.Packet).Ecn));
        Assert.Equal("CE-marked by rule 'mark to-kernel ecn=ect nth=2': ECT(1) → CE on the way to the kernel", Assert.Single(faults).Detail);

        // ecn=ce picks what a router marked; a mark rule on a CE packet changes nothing and counts nothing.
        var (again, tun2, _, faults2) = Rig("mark ecn=ce", "drop ecn=not-ect");
        again.Write(Tcp(TcpFlags.Ack, 1, ack: 1, ecn: EcnCodepoint.Ce));
        again.Write(Tcp(TcpFlags.Ack, 2, ack: 1));
        Assert.Equal([1u], tun2.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(FaultAction.Dropped, Assert.Single(faults2).Action);
        Assert.Equal(0, again.Rules[0].Applied);
        Assert.Equal(0, again.Counters.Marked);
    }

    [Fact]
    public void From_the_kernel_userTcp_reads_the_marked_packet_and_the_capture_records_it_marked()
    {
        var (device, tun, tap, faults) = Rig("mark from-kernel data p=100%");
        byte[] original = Ect0Data(1, fromServer: true);
        tun.FromKernel.Enqueue(original);
        tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, 11, ack: 1, fromServer: true, ecn: EcnCodepoint.NotEct));
        device.Write(Ect0Data(1)); // UserTcp's own: the rule's direction is from the kernel

        byte[] buffer = new byte[1500];
        Assert.True(device.TryRead(buffer, out int length));
        byte[] read = buffer[..length];
        Assert.True(device.TryRead(buffer, out _));
        Assert.False(device.TryRead(buffer, out _));

        Assert.Equal(EcnCodepoint.Ce, Valid(read).Ecn);
        Assert.Equal(original[20..], read[20..]);
        Assert.Equal(EcnCodepoint.Ect0, Valid(tun.ToKernel.Single().Packet).Ecn);
        var record = Assert.Single(tap.Records, r => r.Fault is not null);
        Assert.Equal(PacketDirection.Inbound, record.Direction);
        Assert.Equal(read, record.Packet);
        Assert.Equal("CE-marked by rule 'mark from-kernel data': ECT(0) → CE before UserTcp got it", Assert.Single(faults).Detail);
        Assert.Equal(1, device.Counters.Marked);
    }

    [Fact]
    public void A_drop_wins_over_a_mark_and_a_delayed_or_duplicated_packet_goes_marked()
    {
        var (device, tun, _, faults) = Rig("mark to-kernel", "drop to-kernel nth=1", "duplicate to-kernel nth=2");
        device.Write(Ect0Data(1));
        device.Write(Ect0Data(11));

        Assert.Equal([11u, 11u], tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.All(tun.ToKernel, w => Assert.Equal(EcnCodepoint.Ce, Valid(w.Packet).Ecn));
        Assert.Equal([FaultAction.Dropped, FaultAction.Marked, FaultAction.Duplicated], faults.Select(f => f.Action));
        Assert.Equal(1, device.Counters.Marked);
        Assert.Equal(1, device.Rules[0].Applied);
    }

    [Fact]
    public void The_simulated_link_marks_too_and_its_receiver_sees_a_valid_ce_packet()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(1));
        var injector = new FaultInjector(a, FaultOptions.None, 1, FaultRule.Parse("mark data nth=2..3"));
        var events = new List<FaultEvent>();
        injector.OnFault = events.Add;
        injector.Transmit(Ect0Data(1), Ms(0));
        injector.Transmit(Ect0Data(11), Ms(1));
        injector.Transmit(Tcp(TcpFlags.Ack | TcpFlags.Psh, 21, ack: 1, payloadLength: 10), Ms(2));

        var received = RunUntilQuiet(injector, b);

        Assert.Equal([EcnCodepoint.Ect0, EcnCodepoint.Ce, EcnCodepoint.NotEct], received.Select(r => Valid(r.Packet).Ecn));
        Assert.Equal("CE-marked (ECT(0) → CE) by rule 'mark data nth=2..3'", Assert.Single(events).Detail);
        Assert.Equal(1, injector.Counters.Marked);
    }

    [Theory]
    [InlineData("mark to-kernel data nth=20..22", "mark to-kernel data nth=20..22")]
    [InlineData("MARK from-kernel ECN=ECT p=1%", "mark from-kernel ecn=ect p=1%")]
    [InlineData("drop ecn=not-ect", "drop ecn=not-ect")]
    [InlineData("delay=5ms ecn=ce port=80", "delay=5ms port=80 ecn=ce")]
    public void Mark_and_ecn_read_back_as_their_normal_text(string text, string normal)
    {
        FaultRule rule = FaultRule.Parse(text);
        Assert.Equal(normal, rule.ToText());
        Assert.Equal(normal, FaultRule.Parse(normal).ToText());
    }

    [Theory]
    [InlineData("mark=1", "mark=1", "'mark=1': mark takes no value")]
    [InlineData("mark ecn=ect0", "ecn=ect0", "'ect0' in 'ecn=ect0' is not an ECN kind: write ecn=ect (ECT(0) or ECT(1)), ecn=ce or ecn=not-ect")]
    [InlineData("mark ecn", "ecn", "'ecn': 'ecn' needs a value, as ecn=...")]
    [InlineData("mark ecn=ce ecn=ect", "ecn=ect", "'ecn=ect' repeats the ecn already given: one ecn per rule")]
    public void An_ecn_mistake_says_what_would_do(string text, string token, string message)
    {
        FaultRuleException error = Assert.Throws<FaultRuleException>(() => FaultRule.Parse(text));
        Assert.Equal((token, message), (error.Token, error.Message));
    }

    [Fact]
    public void Marking_leaves_a_packet_that_is_not_ipv4_alone()
    {
        byte[] short_ = [0x45, 0x02, 0, 20];
        Assert.Null(EcnField.TryMark(short_));
        Assert.Equal([0x45, 0x02, 0, 20], short_);
        Assert.Null(EcnField.Of([0x60, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Equal(["Not-ECT", "ECT(1)", "ECT(0)", "CE"], new[] { EcnCodepoint.NotEct, EcnCodepoint.Ect1, EcnCodepoint.Ect0, EcnCodepoint.Ce }.Select(EcnField.Name));
    }
}
