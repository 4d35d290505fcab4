using Microsoft.Extensions.Time.Testing;
using UserTcp.Engine;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class FaultInjectingDeviceTests
{
    private static readonly TcpFlags FinAck = TcpFlags.Fin | TcpFlags.Ack;

    /// <summary>A TUN device stand-in on a fake clock: the kernel's packets queue up to be read; writes are kept. Waiting advances the clock.</summary>
    internal sealed class FakeTun(FakeTimeProvider time) : IPacketDevice
    {
        public Queue<byte[]> FromKernel { get; } = new();
        public List<(TimeSpan At, byte[] Packet)> ToKernel { get; } = [];
        public bool Disposed { get; private set; }
        public int Mtu => 1500;
        private readonly long _start = time.GetTimestamp();

        public bool WaitReadable(TimeSpan timeout)
        {
            if (FromKernel.Count > 0) return true;
            if (timeout != Timeout.InfiniteTimeSpan && timeout > TimeSpan.Zero) time.Advance(timeout);
            return FromKernel.Count > 0;
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = 0;
            if (!FromKernel.TryDequeue(out byte[]? next)) return false;
            next.CopyTo(packet);
            length = next.Length;
            return true;
        }

        /// <summary>Packets the kernel refuses, as a TUN write fails (EINVAL for a version nibble not 4 or 6, EIO when the interface is down).</summary>
        public Func<byte[], bool>? Refuses { get; init; }

        public void Write(ReadOnlySpan<byte> packet)
        {
            byte[] bytes = packet.ToArray();
            if (Refuses?.Invoke(bytes) == true) throw new IOException("the kernel refused the packet");
            ToKernel.Add((time.GetElapsedTime(_start), bytes));
        }

        public void Dispose() => Disposed = true;
    }

    internal sealed class RecordingTap : IPacketTap
    {
        public List<(PacketDirection Direction, TimeSpan At, byte[] Packet, FaultNote? Fault)> Records { get; } = [];
        public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault) =>
            Records.Add((direction, at, packet.ToArray(), fault));
    }

    private sealed class Rig
    {
        public FakeTimeProvider Time { get; } = new();
        public FakeTun Tun { get; }
        public RecordingTap Tap { get; } = new();
        public FaultInjectingDevice Device { get; }
        public List<FaultEvent> Faults { get; } = [];
        public ConnectionStateTracker States { get; } = new();

        public Rig(int seed, params string[] rules)
        {
            Tun = new FakeTun(Time);
            Device = new FaultInjectingDevice(Tun, rules.Select(FaultRule.Parse), seed, Time, States, Tap);
            Device.OnFault = Faults.Add;
        }

        /// <summary>Everything the stack can read now (without waiting).</summary>
        public List<byte[]> ReadAll()
        {
            var read = new List<byte[]>();
            byte[] buffer = new byte[1500];
            while (Device.TryRead(buffer, out int length)) read.Add(buffer[..length]);
            return read;
        }
    }

    [Fact]
    public void Drop_the_first_fin_from_the_kernel_drops_that_one_only_and_records_it_marked()
    {
        var rig = new Rig(1, "drop from-kernel flags=FIN nth=1");
        byte[] fin = Tcp(FinAck, seq: 11, fromServer: true);
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack | TcpFlags.Psh, seq: 1, payloadLength: 10, fromServer: true));
        rig.Tun.FromKernel.Enqueue(fin);
        rig.Tun.FromKernel.Enqueue(fin);
        rig.Device.Write(Tcp(FinAck, seq: 500)); // our own FIN is not the kernel's

        List<byte[]> read = rig.ReadAll();

        Assert.Equal([1u, 11u], read.Select(Seq));
        Assert.Single(rig.Tun.ToKernel);
        Assert.Equal(4, rig.Tap.Records.Count);
        var marked = Assert.Single(rig.Tap.Records, r => r.Fault is not null);
        Assert.Equal(PacketDirection.Inbound, marked.Direction);
        Assert.Equal(fin, marked.Packet);
        Assert.Equal(FaultAction.Dropped, marked.Fault!.Value.Action);
        Assert.Equal("dropped by rule 'drop from-kernel flags=FIN nth=1': never reached UserTcp", marked.Fault.Value.Text);
        FaultEvent fault = Assert.Single(rig.Faults);
        Assert.Equal(FaultAction.Dropped, fault.Action);
        Assert.Equal(1, rig.Device.Rules[0].Applied);
        Assert.Equal(1, rig.Device.Counters.DroppedByRule);
    }

    [Fact]
    public void Drop_everything_to_the_kernel_after_our_fin_lets_the_fin_go_and_nothing_inbound_is_touched()
    {
        var rig = new Rig(1, "drop to-kernel after=FIN");
        rig.Device.Write(Data(1));
        rig.Device.Write(Tcp(FinAck, seq: 11));
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 12));
        rig.Device.Write(Tcp(FinAck, seq: 11));
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 7, fromServer: true));

        Assert.Equal([1u, 11u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Single(rig.ReadAll());
        Assert.Equal(2, rig.Tap.Records.Count(r => r.Fault?.Action == FaultAction.Dropped && r.Direction == PacketDirection.Outbound));
        Assert.All(rig.Tap.Records.Where(r => r.Fault is not null), r => Assert.EndsWith("never reached the kernel", r.Fault!.Value.Text, StringComparison.Ordinal));
    }

    [Fact]
    public void A_latch_on_the_other_direction_drops_everything_from_the_kernel_after_our_fin_on_one_port()
    {
        var rig = new Rig(1, "drop from-kernel after=to-kernel:FIN port=80");
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 7, fromServer: true, destinationPort: 80));
        Assert.Single(rig.ReadAll());
        rig.Device.Write(Tcp(FinAck, seq: 11, destinationPort: 81)); // another connection's FIN does not set the latch
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 8, fromServer: true, destinationPort: 80));
        Assert.Single(rig.ReadAll());
        rig.Device.Write(Tcp(FinAck, seq: 11));
        rig.Tun.FromKernel.Enqueue(Tcp(FinAck, seq: 9, fromServer: true, destinationPort: 80));
        rig.Tun.FromKernel.Enqueue(Tcp(FinAck, seq: 9, fromServer: true, sourcePort: 40001, destinationPort: 81));

        Assert.Equal([9u], rig.ReadAll().Select(Seq)); // only the other port's
        Assert.Equal(1, rig.Device.Rules[0].Applied);
    }

    [Fact]
    public void Lose_the_final_ack_selects_by_our_connection_state()
    {
        var rig = new Rig(1, "drop to-kernel flags==ACK empty state=TIME-WAIT");
        var connection = new FourTuple(new IpEndpoint(Client, 40000), new IpEndpoint(Server, 80));
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 12)); // ESTABLISHED: passes
        rig.States.OnEvent(new TcpEvent(TimeSpan.Zero, TcpEventKind.StateChanged, connection, TcpState.FinWait2, TcpState.TimeWait));
        rig.Device.Write(Tcp(FinAck, seq: 12)); // not a bare ACK: passes
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 13)); // the final ACK: dropped
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 13)); // a re-ACK in TIME-WAIT: dropped too (no nth)
        rig.States.OnEvent(new TcpEvent(TimeSpan.Zero, TcpEventKind.StateChanged, connection, TcpState.TimeWait, TcpState.Closed));
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 14)); // connection gone: passes

        Assert.Equal([12u, 12u, 14u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(2, rig.Device.Rules[0].Applied);
    }

    [Fact]
    public void The_kernels_first_window_update_is_dropped_and_usertcps_windows_do_not_count_as_the_kernels()
    {
        var rig = new Rig(1, "drop from-kernel reopens nth=1");
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 1, window: 0, fromServer: true, sourcePort: 80, destinationPort: 40000)); // the kernel's zero window
        Assert.Single(rig.ReadAll());
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 500, window: 0)); // UserTcp's zero window, then its update: not the kernel's
        rig.Device.Write(Tcp(TcpFlags.Ack, seq: 501, window: 4000));
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 2, window: 0, fromServer: true, sourcePort: 80, destinationPort: 40000)); // answers a probe: still shut
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 3, window: 8000, fromServer: true, sourcePort: 80, destinationPort: 40000)); // the window update
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 4, window: 8000, fromServer: true, sourcePort: 80, destinationPort: 40000)); // the answer to the next probe
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 5, window: 0, fromServer: true, sourcePort: 80, destinationPort: 40000));
        rig.Tun.FromKernel.Enqueue(Tcp(TcpFlags.Ack, seq: 6, window: 8000, fromServer: true, sourcePort: 80, destinationPort: 40000)); // a second update: nth=1 is spent

        Assert.Equal([2u, 4u, 5u, 6u], rig.ReadAll().Select(Seq));
        Assert.Equal([500u, 501u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        var dropped = Assert.Single(rig.Tap.Records, r => r.Fault is not null);
        Assert.Equal(3u, Seq(dropped.Packet));
        Assert.Equal("dropped by rule 'drop from-kernel reopens nth=1': never reached UserTcp", dropped.Fault!.Value.Text);
    }

    [Fact]
    public void A_delay_to_the_kernel_goes_from_a_timer_at_its_instant()
    {
        var rig = new Rig(1, "delay=200ms to-kernel flags=FIN");
        rig.Device.Write(Tcp(FinAck, seq: 11));
        rig.Device.Write(Data(1));
        Assert.Equal([1u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));

        rig.Time.Advance(TimeSpan.FromMilliseconds(199));
        Assert.Single(rig.Tun.ToKernel);
        rig.Time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal([1u, 11u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), rig.Tun.ToKernel[1].At);
        var record = rig.Tap.Records[^1];
        Assert.Equal((TimeSpan.FromMilliseconds(200), FaultAction.Delayed), (record.At, record.Fault!.Value.Action));
        Assert.StartsWith("delayed by rule 'delay=200ms to-kernel flags=FIN': delayed 200 ms on the way to the kernel, sent at 0.000000 s", record.Fault.Value.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_delay_from_the_kernel_keeps_the_packet_from_the_reader_until_due()
    {
        var rig = new Rig(1, "delay=300ms from-kernel");
        rig.Tun.FromKernel.Enqueue(Data(5));

        Assert.False(rig.Device.WaitReadable(TimeSpan.FromMilliseconds(100)));
        Assert.Empty(rig.ReadAll());
        Assert.True(rig.Device.WaitReadable(TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(300), rig.Device.Now);
        Assert.Equal([5u], rig.ReadAll().Select(Seq));
        Assert.Equal(TimeSpan.Zero, Assert.Single(rig.Tap.Records).At); // recorded when the kernel sent it
    }

    [Fact]
    public void Reorder_holds_a_packet_behind_the_next_one_each_way()
    {
        var rig = new Rig(1, "reorder nth=1 to-kernel", "reorder nth=1 from-kernel");
        rig.Device.Write(Data(1));
        rig.Device.Write(Data(2));
        rig.Device.Write(Data(3));
        rig.Tun.FromKernel.Enqueue(Data(10));
        rig.Tun.FromKernel.Enqueue(Data(20));

        Assert.Equal([2u, 1u, 3u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal([20u, 10u], rig.ReadAll().Select(Seq));
    }

    [Fact]
    public void A_held_packet_with_nothing_behind_it_goes_when_its_hold_ends()
    {
        var rig = new Rig(1, "reorder=50ms");
        rig.Device.Write(Data(1));
        rig.Tun.FromKernel.Enqueue(Data(10));
        Assert.Empty(rig.Tun.ToKernel);
        Assert.Empty(rig.ReadAll());

        rig.Time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal([1u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal([10u], rig.ReadAll().Select(Seq));
    }

    /// <summary>
    /// The lab times a held packet's sending by the instant the link took it, which its record (made when the link hands
    /// it on) carries as a value; it read it back from the note's words before.
    /// </summary>
    [Fact]
    public void A_held_or_delayed_packets_note_carries_the_instant_the_link_took_it()
    {
        var rig = new Rig(1, "reorder=50ms to-kernel nth=1", "delay=200ms to-kernel nth=2");
        rig.Time.Advance(TimeSpan.FromMilliseconds(30));
        rig.Device.Write(Data(1));
        rig.Time.Advance(TimeSpan.FromMilliseconds(50));
        rig.Time.Advance(TimeSpan.FromMilliseconds(7));
        rig.Device.Write(Data(2));
        rig.Time.Advance(TimeSpan.FromMilliseconds(200));
        rig.Device.Write(Data(3));

        Assert.Equal([1u, 2u, 3u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
        var records = rig.Tap.Records.Where(r => r.Fault is not null).ToList();
        Assert.Equal([(TimeSpan.FromMilliseconds(80), FaultAction.HeldBack, (TimeSpan?)TimeSpan.FromMilliseconds(30)),
                      (TimeSpan.FromMilliseconds(287), FaultAction.Delayed, (TimeSpan?)TimeSpan.FromMilliseconds(87))],
            records.Select(r => (r.At, r.Fault!.Value.Action, r.Fault.Value.TookAt)));
        Assert.Null(rig.Tap.Records.Single(r => Seq(r.Packet) == 3u).Fault);
    }

    [Fact]
    public void Duplicate_delivers_twice_and_corrupt_breaks_the_checksum()
    {
        var rig = new Rig(7, "duplicate from-kernel", "corrupt to-kernel");
        rig.Tun.FromKernel.Enqueue(Data(10));
        byte[] sent = Data(1);
        rig.Device.Write(sent);

        Assert.Equal([10u, 10u], rig.ReadAll().Select(Seq));
        byte[] corrupted = Assert.Single(rig.Tun.ToKernel).Packet;
        Assert.Equal(1, sent.Zip(corrupted).Count(pair => pair.First != pair.Second));
        bool refused = Ipv4Packet.TryParse(corrupted, out Ipv4Packet ip) != WireError.None || TcpSegment.TryParse(ip, out _) != WireError.None;
        Assert.True(refused, "a corrupted packet must fail a checksum or a length check");
        Assert.Equal(corrupted, rig.Tap.Records.Single(r => r.Direction == PacketDirection.Outbound).Packet); // the capture shows the bytes that went
    }

    [Fact]
    public void Probability_rolls_come_from_the_seed()
    {
        static bool[] Fates(int seed)
        {
            var rig = new Rig(seed, "drop p=50%");
            for (uint i = 0; i < 200; i++) rig.Device.Write(Data(i));
            var kept = rig.Tun.ToKernel.Select(w => Seq(w.Packet)).ToHashSet();
            return [.. Enumerable.Range(0, 200).Select(i => kept.Contains((uint)i))];
        }

        bool[] first = Fates(3);
        Assert.Equal(first, Fates(3));
        Assert.NotEqual(first, Fates(4));
        Assert.InRange(first.Count(kept => kept), 70, 130);
    }

    [Fact]
    public void A_time_window_counts_from_the_device_start()
    {
        var rig = new Rig(1, "drop time=1s..2s");
        rig.Device.Write(Data(1));
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Device.Write(Data(2));
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Device.Write(Data(3));

        Assert.Equal([1u, 3u], rig.Tun.ToKernel.Select(w => Seq(w.Packet)));
    }

    [Fact]
    public void A_delayed_packet_the_device_refuses_when_due_is_lost_alone_and_counted()
    {
        var time = new FakeTimeProvider();
        var tun = new FakeTun(time) { Refuses = p => Seq(p) == 1 };
        using var device = new FaultInjectingDevice(tun, [FaultRule.Parse("delay=50ms to-kernel nth=1..2")], seed: 1, time);
        device.Write(Data(1));
        device.Write(Data(2));

        time.Advance(Ms(50)); // both due in one release: the refusal of the first neither escapes the timer nor keeps the second

        Assert.Equal([2u], tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(1, device.Counters.WriteFailures);
        device.Write(Data(3)); // the rule is spent: goes at once
        Assert.Equal([2u, 3u], tun.ToKernel.Select(w => Seq(w.Packet)));
    }

    [Fact]
    public void A_write_that_releases_a_refused_packet_still_sends_its_own()
    {
        // The device's clock runs ahead of the timer's, so the write, not the timer, finds packet 1 due and releases it.
        var time = new FakeTimeProvider();
        TimeSpan now = TimeSpan.Zero;
        var tun = new FakeTun(time) { Refuses = p => Seq(p) == 1 };
        using var device = new FaultInjectingDevice(tun, [FaultRule.Parse("delay=50ms to-kernel nth=1")], seed: 1, time, clock: () => now);
        device.Write(Data(1));
        now = Ms(60);

        device.Write(Data(2));

        Assert.Equal([2u], tun.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(1, device.Counters.WriteFailures);
    }

    [Fact]
    public void Disposing_disposes_the_device_underneath()
    {
        var rig = new Rig(1);
        rig.Device.Dispose();
        Assert.True(rig.Tun.Disposed);
        Assert.Throws<ObjectDisposedException>(() => rig.Device.Write(Data(1)));
    }
}
