using System.Diagnostics;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Link;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// KernelTransmitTimes: the lab's packets from the kernel carry the instant the kernel sent them, however late UserTcp
/// read them; the read instant stays beside it.
/// </summary>
public sealed class KernelTransmitTimesTests
{
    private static readonly TimeSpan PacketTimeout = TimeSpan.FromSeconds(5);

    [RequiresNetAdminFact]
    public void A_SYN_read_300_ms_late_is_timed_when_the_kernel_sent_it()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        var clock = Stopwatch.StartNew();
        using KernelTransmitTimes times = KernelTransmitTimes.Start(ns.Scratch, tun.Name, Addresses.StackAddress, () => clock.Elapsed, out string? failure)
            ?? throw new InvalidOperationException(failure);

        TimeSpan before = clock.Elapsed;
        ns.Start(Addresses.KernelConnect);
        // Nothing reads the device until the SYN has been seen leaving and 300 ms more have passed: it waits in the
        // device's queue, as it would behind a stalled reader.
        Assert.True(Poll.Until(() => times.Sent.Any(s => s.Segment.Has(TcpFlags.Syn)), PacketTimeout), "the kernel sent no SYN");
        TimeSpan seen = clock.Elapsed;
        Thread.Sleep(300);
        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p => Packets.IsTcp(p, TcpFlags.Syn, 80));
        TimeSpan readAt = clock.Elapsed;
        times.Settle();

        Assert.True(TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo syn));
        KernelTransmission sent = Assert.Single(times.Sent, s => s.Segment == syn);
        Assert.InRange(sent.At, before - TimeSpan.FromMilliseconds(1), seen + TimeSpan.FromMilliseconds(1));
        Assert.True(readAt - sent.At >= TimeSpan.FromMilliseconds(300), $"read {(readAt - sent.At).TotalMilliseconds:0.0} ms after the kernel sent it");
        WirePacket timed = Assert.Single(KernelTransmitTimes.Apply([Inbound(0, readAt, syn)], times.Sent));
        Assert.Equal(sent.At, timed.At);
        Assert.Equal(readAt, timed.ReadAt);
        Assert.Equal(readAt, timed.ArrivedAt);
        Assert.Null(times.Failure);
    }

    [RequiresNetAdminFact]
    public async Task A_lab_run_records_and_captures_the_kernels_retransmissions_at_the_kernels_instants()
    {
        NetAdminEnvironment.Require();
        string directory = Directory.CreateTempSubdirectory("usertcp-it-labtimes-").FullName;
        try
        {
            // rto-backoff, passive role: the kernel sends 1000 bytes into a blackhole and retransmits them five times.
            LabResult result = await LabRunner.RunAsync(LabCatalog.Find("rto-backoff")!, LabRole.UserTcpPassive,
                new LabOptions { CaptureDirectory = directory, NamespaceCreated = LeftBehind.Record });
            string description = string.Join('\n', LabText.Describe(result));

            Assert.True(result.Verdict.Passed, description);
            Assert.All(result.Record.Packets.Where(p => !p.ToKernel), p => Assert.True(p.ReadAt >= p.At - TimeSpan.FromMilliseconds(1), description));
            Assert.Contains("packets are timed by the kernel's clock, when it sent them", result.Verdict.Observed, StringComparison.Ordinal);
            TimeSpan[] recorded = [.. result.Record.Packets.Where(p => !p.ToKernel && p.Segment.PayloadLength > 0).Select(p => p.At)];
            TimeSpan[] captured = [.. Pcap.ReadTcp(result.CapturePath).Where(s => s.Source == Addresses.KernelAddress && s.PayloadLength > 0).Select(s => s.At)];
            // Five or six transmissions: with tcp_retries2 = 3 the kernel gives up by elapsed time, so whether a sixth
            // leaves before the deadline depends on the handshake's RTT (a loaded run sent five; the lab's verdict allows both).
            Assert.InRange(recorded.Length, 5, 6);
            Assert.Equal(recorded.Length, captured.Length);
            // The capture carries the record's instants (to its microsecond resolution), not the reads'.
            for (int i = 1; i < recorded.Length; i++)
            {
                TimeSpan difference = (captured[i] - captured[0]) - (recorded[i] - recorded[0]);
                Assert.True(difference.Duration() <= TimeSpan.FromMicroseconds(2), $"transmission {i}: the capture is {difference.TotalMicroseconds} µs off the record");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Apply_matches_the_kernels_packets_in_order_and_leaves_UserTcps_own_alone()
    {
        TcpSegmentInfo data = Segment(1000, TcpFlags.Ack | TcpFlags.Psh, 100);
        TcpSegmentInfo lost = Segment(1100, TcpFlags.Ack, 50); // sent by the kernel, never read (its queue overflowed)
        TcpSegmentInfo ack = Segment(7000, TcpFlags.Ack, 0);
        KernelTransmission[] sent =
        [
            new(Ms(10), data),
            new(Ms(11), lost),
            new(Ms(210), data), // the retransmission: the same fields, later
        ];
        WirePacket[] packets =
        [
            Inbound(0, Ms(40), data),
            Outbound(1, Ms(41), ack),
            Inbound(2, Ms(215), data),
        ];

        IReadOnlyList<WirePacket> timed = KernelTransmitTimes.Apply(packets, sent);

        Assert.Equal([Ms(10), Ms(41), Ms(210)], timed.Select(p => p.At));
        Assert.Equal([Ms(40), null, Ms(215)], timed.Select(p => p.ReadAt));
        Assert.Equal([Ms(40), Ms(41), Ms(215)], timed.Select(p => p.ArrivedAt));
        Assert.Equal(packets.Select(p => p.Index), timed.Select(p => p.Index));
    }

    [Fact]
    public void Apply_keeps_the_read_instant_when_the_kernels_would_come_after_it()
    {
        TcpSegmentInfo data = Segment(1000, TcpFlags.Ack, 100);
        TcpSegmentInfo other = Segment(5000, TcpFlags.Ack, 10);

        // A kernel instant 5 ms after the read: the clocks' conversion failed, and a packet cannot arrive before it left.
        IReadOnlyList<WirePacket> late = KernelTransmitTimes.Apply([Inbound(0, Ms(40), data)], [new(Ms(45), data)]);
        // No transmission with the packet's fields: nothing to take.
        IReadOnlyList<WirePacket> unmatched = KernelTransmitTimes.Apply([Inbound(0, Ms(40), data)], [new(Ms(30), other)]);

        Assert.Equal((Ms(40), (TimeSpan?)null), (late[0].At, late[0].ReadAt));
        Assert.Equal((Ms(40), (TimeSpan?)null), (unmatched[0].At, unmatched[0].ReadAt));
    }

    [Fact]
    public void The_ladder_says_how_late_UserTcp_read_a_packet_that_waited_a_millisecond_or_more()
    {
        TcpSegmentInfo first = Segment(1000, TcpFlags.Ack, 100), second = Segment(1100, TcpFlags.Ack, 100);
        WirePacket waited = Inbound(0, Ms(10), first) with { ReadAt = Ms(22.5) };
        WirePacket prompt = Inbound(1, Ms(11), second) with { ReadAt = Ms(11.2) };
        var record = new LabRecord
        {
            Scenario = "test",
            Role = LabRole.UserTcpActive,
            Packets = [waited, prompt],
            Events = [],
            KernelSockets = [],
            Marks = [],
            KernelSettings = new Dictionary<string, string>(),
            Faults = [],
            UserTcpConfig = new UserTcp.Engine.TcpConfig(),
            End = Ms(30),
            KernelSamples = 0,
            KernelLongestGap = TimeSpan.Zero,
        };

        IReadOnlyList<string> ladder = LabLadder.Draw(record, LabRecord.Id(waited));

        Assert.Single(ladder, l => l.Contains("seq 1000:1100", StringComparison.Ordinal) && l.EndsWith("UserTcp read it 12.5 ms later", StringComparison.Ordinal));
        Assert.Single(ladder, l => l.Contains("seq 1100:1200", StringComparison.Ordinal) && !l.Contains("read it", StringComparison.Ordinal));
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static TcpSegmentInfo Segment(uint seq, TcpFlags flags, int length) =>
        new(Addresses.KernelAddress, Addresses.StackAddress, 5000, 40000, new SeqNumber(seq), new SeqNumber(1), flags, 64240, length);

    private static WirePacket Inbound(int index, TimeSpan at, TcpSegmentInfo segment) =>
        new(index, at, PacketDirection.Inbound, segment, [], null, null);

    private static WirePacket Outbound(int index, TimeSpan at, TcpSegmentInfo segment) =>
        new(index, at, PacketDirection.Outbound, segment with { Source = segment.Destination, Destination = segment.Source }, [], null, null);
}
