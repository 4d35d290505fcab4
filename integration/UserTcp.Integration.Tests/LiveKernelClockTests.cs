using System.Diagnostics;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// KernelClockTap: a live pcapng capture (--pcap) gives each packet from the kernel the instant the kernel sent it, read
/// from the packet socket as the packet is written, however late UserTcp read it; nothing else in the file changes.
/// </summary>
public sealed class LiveKernelClockTests
{
    private static readonly TimeSpan PacketTimeout = TimeSpan.FromSeconds(5);

    [RequiresNetAdminFact]
    public void A_kernel_SYN_left_unread_300_ms_keeps_its_send_instant_in_the_live_capture()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        string path = TempCapture();
        var clock = Stopwatch.StartNew();
        try
        {
            TimeSpan before, seen, readAt;
            long kernelTimed;
            using (PcapNgWriter file = PcapNgWriter.Create(path, DateTimeOffset.UnixEpoch, tun.Name)) // file instants = the clock's
            using (var tap = new KernelClockTap(file, OpenSocket(ns, tun)))
            using (KernelPacketSocket watch = OpenSocket(ns, tun))
            {
                tap.Calibrate(() => clock.Elapsed);
                watch.Calibrate(() => clock.Elapsed);
                var device = new CapturingDevice(tun, tap, () => clock.Elapsed);
                before = clock.Elapsed;
                ns.Start(Addresses.KernelConnect);
                // Nothing reads the device until a socket of the test's own has seen the SYN leave and 300 ms more have
                // passed: it waits in the device's queue, as it would behind a stalled reader.
                Assert.True(WaitForSyn(watch), "the kernel sent no SYN");
                seen = clock.Elapsed;
                Thread.Sleep(300);
                ReadUntilSyn(device);
                readAt = clock.Elapsed;
                kernelTimed = tap.KernelTimed;
            }

            CapturedSegment syn = Assert.Single(Pcap.ReadTcp(path), s => s.Flags == TcpFlags.Syn);
            Assert.InRange(syn.At, before - TimeSpan.FromMilliseconds(1), seen + TimeSpan.FromMilliseconds(1));
            Assert.True(readAt - syn.At >= TimeSpan.FromMilliseconds(250), $"captured {(readAt - syn.At).TotalMilliseconds:0.0} ms before the read");
            string comment = Assert.Single(syn.Comments);
            Assert.StartsWith("UserTcp read it ", comment, StringComparison.Ordinal);
            Assert.EndsWith(" ms later", comment, StringComparison.Ordinal);
            Assert.InRange(double.Parse(comment["UserTcp read it ".Length..^" ms later".Length], System.Globalization.CultureInfo.InvariantCulture), 250, 5000);
            Assert.True(kernelTimed >= 1);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [RequiresNetAdminFact("python3")]
    public async Task A_live_capture_gives_every_kernel_packet_the_kernels_instant_and_leaves_the_rest_as_the_tap_saw_it()
    {
        using NetNamespace ns = NetNamespace.Create();
        string path = TempCapture();
        try
        {
            var wire = new WireRecorder(); // the same packets, stamped as UserTcp read and wrote them
            KernelClockTap kernelClock;
            await using (UserTcp.Live.LiveStack live = new LiveStackBuilder { Namespace = ns.Name, CapturePath = path, Tap = wire }.Start())
            {
                kernelClock = live.KernelClock ?? throw new InvalidOperationException("no kernel clock on a capture as root");
                await using ServiceHost services = ServiceHost.Start(live.Stack);
                // The kernel sends 64 KiB to echo, closes its sending side and reads the echo back to the end.
                PeerProgram client = ns.Run(TimeSpan.FromSeconds(20), "python3", "-c",
                    $"import socket\ns = socket.create_connection(('{Addresses.Stack}', 7), timeout=10)\ns.sendall(b'x' * 65536)\n"
                    + "s.shutdown(socket.SHUT_WR)\nn = 0\nwhile True:\n    b = s.recv(65536)\n    if not b: break\n    n += len(b)\nassert n == 65536, n\ns.close()\n");
                Assert.True(client.ExitCode == 0, client.Transcript);
                Assert.True(Poll.Until(() => live.Stack.Snapshot().All(c => c.State == TcpState.Listen), PacketTimeout), "echo's connection did not close");
            }

            CapturedSegment[] file = [.. Pcap.ReadTcp(path)];
            WirePacket[] tap = [.. wire.Packets];
            Assert.Equal(tap.Length, file.Length); // nothing lost, nothing doubled
            // The file's clock is the stack's plus its epoch: UserTcp's own packets say by how much.
            CapturedSegment[] fileOut = [.. file.Where(s => s.Source == Addresses.StackAddress)];
            WirePacket[] tapOut = [.. tap.Where(p => p.ToKernel)];
            Assert.Equal(tapOut.Length, fileOut.Length);
            TimeSpan epoch = fileOut[0].At - Truncate(tapOut[0].At);
            Assert.Equal(tapOut.Select(p => (p.Segment.SequenceNumber.Value, p.Segment.Flags, Truncate(p.At))).Order(),
                fileOut.Select(s => (s.Sequence, s.Flags, s.At - epoch)).Order());

            // The kernel's packets: the same ones in the same order, each at the kernel's instant, at or before the read.
            CapturedSegment[] fileIn = [.. file.Where(s => s.Source == Addresses.KernelAddress)];
            WirePacket[] tapIn = [.. tap.Where(p => !p.ToKernel)];
            Assert.Equal(tapIn.Select(p => (p.Segment.SequenceNumber.Value, p.Segment.Flags, p.Segment.PayloadLength)),
                fileIn.Select(s => (s.Sequence, s.Flags, s.PayloadLength)));
            Assert.True(tapIn.Length >= 10, $"only {tapIn.Length} packets from the kernel");
            Assert.Equal(tapIn.Length, kernelClock.KernelTimed);
            Assert.Equal(0, kernelClock.ReadTimed);
            Assert.Null(kernelClock.Failure);
            // The clocks agree: some packet was read within moments of leaving the kernel (a conversion off by tens of
            // milliseconds would put every one of them that much before its read).
            TimeSpan quickest = Enumerable.Range(0, tapIn.Length).Min(i => tapIn[i].At - (fileIn[i].At - epoch));
            Assert.True(quickest < TimeSpan.FromMilliseconds(20), $"the promptest read came {quickest.TotalMilliseconds:0.0} ms after the kernel sent it");
            for (int i = 0; i < tapIn.Length; i++)
            {
                TimeSpan sent = fileIn[i].At - epoch, read = tapIn[i].At;
                Assert.InRange(sent, read - TimeSpan.FromSeconds(1), read + KernelTransmissionMatcher.ClockSlack);
                bool late = read - sent >= KernelTransmission.LateReadThreshold + TimeSpan.FromMicroseconds(2);
                bool prompt = read - sent < KernelTransmission.LateReadThreshold - TimeSpan.FromMicroseconds(2);
                if (late) Assert.Single(fileIn[i].Comments, c => c.StartsWith("UserTcp read it ", StringComparison.Ordinal));
                if (prompt) Assert.Empty(fileIn[i].Comments);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [RequiresNetAdminFact]
    public void The_packet_socket_queues_the_kernels_packets_and_none_of_UserTcps()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        var clock = Stopwatch.StartNew();
        using KernelPacketSocket socket = OpenSocket(ns, tun);
        socket.Calibrate(() => clock.Elapsed);

        // UserTcp writes five SYNs into the TUN to a port where nothing listens; the kernel answers each with a RST.
        const int Syns = 5;
        for (int i = 0; i < Syns; i++) tun.Write(Syn((ushort)(40000 + i)));
        var transmissions = new List<KernelTransmission>();
        int others = 0;
        var bound = Stopwatch.StartNew();
        var quiet = Stopwatch.StartNew();
        // Everything the socket queues: read until 200 ms pass without a packet (at most 5 s).
        while (bound.Elapsed < PacketTimeout && quiet.Elapsed < TimeSpan.FromMilliseconds(200))
        {
            if (!socket.WaitReadable(TimeSpan.FromMilliseconds(20), out string? failure))
            {
                Assert.Null(failure);
                continue;
            }
            KernelPacketRead read = socket.TryRead(out KernelTransmission sent, out failure);
            Assert.NotEqual(KernelPacketRead.Failed, read);
            if (read == KernelPacketRead.Empty) continue;
            quiet.Restart();
            if (read == KernelPacketRead.Transmission) transmissions.Add(sent);
            else others++;
        }

        // The RSTs the kernel sent out of the TUN, each to UserTcp; not one of the SYNs it received (without the socket's
        // filter they are queued too, and read as Other).
        Assert.Equal(Syns, transmissions.Count(t => t.Segment.Has(TcpFlags.Rst) && t.Segment.Destination == Addresses.StackAddress));
        Assert.Equal(Syns, transmissions.Count);
        Assert.Equal(0, others);
    }

    // A SYN from UserTcp to the kernel's port 9 (discard: nothing listens in the namespace).
    private static byte[] Syn(ushort sourcePort)
    {
        var syn = new TcpRepr { SourcePort = sourcePort, DestinationPort = 9, SequenceNumber = new SeqNumber(1000), Flags = TcpFlags.Syn, Window = 64240 };
        byte[] packet = new byte[PacketWriter.Ipv4TcpLength(syn)];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress), syn, out _));
        return packet;
    }

    [RequiresNetAdminFact]
    public void No_packet_socket_on_a_missing_interface_says_why()
    {
        using NetNamespace ns = NetNamespace.Create();

        KernelPacketSocket? socket = KernelPacketSocket.Open(Addresses.StackAddress, ns.Name, "utcp-missing", out string? failure);

        Assert.Null(socket);
        Assert.Equal("no packet socket on utcp-missing (No such device)", failure);
    }

    private static string TempCapture() => Path.Combine(Path.GetTempPath(), $"usertcp-it-kclock-{Environment.ProcessId}-{Guid.NewGuid():N}.pcapng");

    // The file keeps microseconds.
    private static TimeSpan Truncate(TimeSpan at) => TimeSpan.FromTicks(at.Ticks - at.Ticks % TimeSpan.TicksPerMicrosecond);

    private static KernelPacketSocket OpenSocket(NetNamespace ns, TunDevice tun) =>
        KernelPacketSocket.Open(Addresses.StackAddress, ns.Name, tun.Name, out string? failure) ?? throw new InvalidOperationException(failure);

    private static bool WaitForSyn(KernelPacketSocket watch)
    {
        var bound = Stopwatch.StartNew();
        while (bound.Elapsed < PacketTimeout)
        {
            if (!watch.WaitReadable(TimeSpan.FromMilliseconds(50), out string? failure))
            {
                Assert.Null(failure);
                continue;
            }
            if (watch.TryRead(out KernelTransmission sent, out _) == KernelPacketRead.Transmission && sent.Segment.Has(TcpFlags.Syn)) return true;
        }
        return false;
    }

    // Reads through the capturing device (so the tap records every packet) until the kernel's SYN.
    private static void ReadUntilSyn(CapturingDevice device)
    {
        byte[] buffer = new byte[65536];
        var bound = Stopwatch.StartNew();
        while (bound.Elapsed < PacketTimeout)
        {
            if (!device.WaitReadable(TimeSpan.FromMilliseconds(50)) || !device.TryRead(buffer, out int length)) continue;
            if (Packets.IsTcp(buffer.AsSpan(0, length), TcpFlags.Syn, 80)) return;
        }
        throw new TimeoutException("no SYN read from the device");
    }
}
