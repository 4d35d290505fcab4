using UserTcp.Lab;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

public sealed class TunDeviceTests
{
    private static readonly TimeSpan PacketTimeout = TimeSpan.FromSeconds(5);

    [RequiresNetAdminFact]
    public void Kernel_connect_arrives_as_a_syn_with_mss_sack_timestamps_and_window_scale()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        ns.Start(Addresses.KernelConnect);

        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p => Packets.IsTcp(p, TcpFlags.Syn, 80));

        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment syn));
        Assert.Equal(Addresses.KernelAddress, ip.Source);
        Assert.Equal(Addresses.StackAddress, ip.Destination);
        Assert.Equal(80, syn.DestinationPort);
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        // MTU 1500 minus 20 bytes of IPv4 and 20 of TCP header.
        Assert.Equal((ushort)1460, syn.Options.MaxSegmentSize);
        Assert.True(syn.Options.SackPermitted);
        Assert.NotNull(syn.Options.Timestamp);
        Assert.NotNull(syn.Options.WindowScale);
    }

    [RequiresNetAdminFact]
    public void Reset_written_to_the_device_refuses_the_kernels_connect()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        PeerProgram connect = ns.Start(Addresses.KernelConnect);
        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p => Packets.IsTcp(p, TcpFlags.Syn, 80));
        Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        TcpSegment.TryParse(ip, out TcpSegment syn);

        // RFC 9293 §3.10.7.1: a SYN to a closed port is answered with <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
        var reset = new TcpRepr
        {
            SourcePort = syn.DestinationPort,
            DestinationPort = syn.SourcePort,
            AcknowledgmentNumber = syn.SequenceNumber + syn.SegmentLength,
            Flags = TcpFlags.Rst | TcpFlags.Ack,
        };
        var reply = new byte[PacketWriter.Ipv4TcpLength(reset)];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(reply, new Ipv4Repr(ip.Destination, ip.Source), reset, out _));
        tun.Write(reply);

        Assert.True(connect.WaitForExit(PacketTimeout), connect.Transcript);
        Assert.Contains(connect.ErrorLines, line => line.Contains("Connection refused", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact]
    public void Kernel_ping_arrives_as_an_icmp_echo_request()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        ns.Start("ping", "-c", "1", "-W", "1", Addresses.Stack);

        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, Packets.IsEchoRequest);

        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(Ipv4Packet.ProtocolIcmp, ip.Protocol);
        Assert.Equal(Addresses.KernelAddress, ip.Source);
        Assert.Equal(Addresses.StackAddress, ip.Destination);
    }

    [RequiresNetAdminFact]
    public void Address_mtu_and_queue_length_set_through_ioctls_are_what_ip_shows_and_closing_removes_the_interface()
    {
        using NetNamespace ns = NetNamespace.Create();
        using (TunDevice tun = ns.OpenTun(Addresses.Options(mtu: 1400) with { QueueLength = 65536 }))
        {
            Assert.Equal(Addresses.Interface, tun.Name);
            Assert.Equal(1400, tun.Mtu);

            PeerProgram link = ns.Ip("-o", "link", "show", "dev", Addresses.Interface);
            Assert.Equal(0, link.ExitCode);
            Assert.Contains(" mtu 1400 ", link.OutputLines.Single(), StringComparison.Ordinal);
            Assert.Contains(",UP", link.OutputLines.Single(), StringComparison.Ordinal);
            // The transmit queue the kernel fills for us, as asked (issue 10's held connections).
            Assert.Contains(" qlen 65536", link.OutputLines.Single(), StringComparison.Ordinal);

            PeerProgram address = ns.Ip("-o", "-4", "addr", "show", "dev", Addresses.Interface);
            Assert.Contains($" inet {Addresses.KernelCidr} ", address.OutputLines.Single(), StringComparison.Ordinal);
        }

        PeerProgram gone = ns.Ip("link", "show", "dev", Addresses.Interface);
        Assert.NotEqual(0, gone.ExitCode);
    }

    [RequiresNetAdminFact]
    public void The_kernel_sends_no_ipv6_into_the_interface_because_ipv6_is_off_on_it_alone()
    {
        using NetNamespace ns = NetNamespace.Create();
        // Scratch namespaces turn IPv6 off throughout; a namespace of the user's (serve --netns) keeps the kernel's default.
        PeerProgram enable = ns.Run(PacketTimeout, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0");
        Assert.True(enable.ExitCode == 0, enable.Transcript);
        using TunDevice tun = ns.OpenTun(Addresses.Options());

        // With IPv6 on, MLD reports and DAD's neighbour solicitation come within ~1 s of link up, the router
        // solicitation after DAD's 1 s: 2.5 s sees them all.
        var buffer = new byte[tun.Mtu];
        var versions = new List<int>();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        TimeSpan window = TimeSpan.FromSeconds(2.5);
        for (TimeSpan left = window; left > TimeSpan.Zero; left = window - System.Diagnostics.Stopwatch.GetElapsedTime(start))
        {
            if (tun.WaitReadable(left) && tun.TryRead(buffer, out int length) && length > 0) versions.Add(buffer[0] >> 4);
        }

        Assert.DoesNotContain(6, versions);
        PeerProgram setting = ns.Run(PacketTimeout, "cat", $"/proc/sys/net/ipv6/conf/{Addresses.Interface}/disable_ipv6");
        Assert.Equal("1", setting.OutputLines.Single());
        // Only our interface: the namespace's loopback keeps its IPv6.
        PeerProgram loopback = ns.Run(PacketTimeout, "cat", "/proc/sys/net/ipv6/conf/lo/disable_ipv6");
        Assert.Equal("0", loopback.OutputLines.Single());
    }

    [RequiresNetAdminFact]
    public void Opening_a_name_already_in_use_throws_an_actionable_error()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice first = ns.OpenTun(Addresses.Options());

        TunException tunInUse = Assert.Throws<TunException>(() => ns.OpenTun(Addresses.Options()));
        // The loopback device is not a TUN device, and is never taken over either.
        TunException loopback = Assert.Throws<TunException>(() =>
            ns.OpenTun(new TunOptions("lo", InterfaceAddress.Parse(Addresses.KernelCidr))));

        Assert.Equal("interface utcp0 already in use: pick another --iface name", tunInUse.Message);
        Assert.Equal("interface lo already in use: pick another --iface name", loopback.Message);
        Assert.Equal(16, tunInUse.Errno); // EBUSY
    }

    [RequiresNetAdminFact]
    public void Wait_readable_times_out_on_a_quiet_interface_and_returns_once_a_packet_is_queued()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());

        Assert.False(tun.WaitReadable(TimeSpan.FromMilliseconds(200)));
        var buffer = new byte[tun.Mtu];
        Assert.False(tun.TryRead(buffer, out _)); // non-blocking: nothing waiting is an answer, not a wait

        ns.Start("ping", "-c", "1", "-W", "1", Addresses.Stack);
        Assert.True(tun.WaitReadable(PacketTimeout));
        Assert.True(tun.TryRead(buffer, out int length));
        Assert.True(Packets.IsEchoRequest(buffer.AsSpan(0, length)));
        Assert.False(tun.TryRead(buffer, out _)); // the one packet was taken
    }

    [RequiresNetAdminFact]
    public void Reading_packets_does_not_allocate()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        ns.Start("ping", "-c", "3", "-i", "0.2", "-W", "1", Addresses.Stack);
        var buffer = new byte[tun.Mtu];

        // The first packet warms up the code path (JIT, marshalling stubs).
        Assert.True(tun.WaitReadable(PacketTimeout));
        tun.Read(buffer);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(tun.WaitReadable(PacketTimeout));
        int length = tun.Read(buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(Packets.IsEchoRequest(buffer.AsSpan(0, length)));
        Assert.Equal(0, allocated);
    }

    [RequiresNetAdminTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Queued_frames_reach_the_kernel_in_order_with_one_submission_per_flush_when_batched(bool batch)
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options() with { BatchWrites = batch });
        // This kernel offers io_uring unless the administrator turned it off (CI runs where it is on).
        bool ringOffered = File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim() == "0";
        Assert.Equal(batch && ringOffered, tun.BatchesWrites);
        const int Count = 5;
        // Five echo requests in one pinned arena, as the runtime's transmit batch holds its frames.
        byte[] arena = GC.AllocateArray<byte>(Count * 64, pinned: true);
        for (int i = 0; i < Count; i++)
        {
            Assert.True(PacketWriter.TryWriteIpv4Icmp(arena.AsSpan(i * 64, 64), new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress),
                IcmpType.EchoRequest, 0, (0x4242u << 16) | (uint)i, [], out int length));
            tun.QueueFrame(arena.AsSpan(i * 64, length), default);
        }

        // Batched, nothing has gone before the flush: the kernel has answered none of them.
        Assert.Equal(!tun.BatchesWrites, tun.WaitReadable(TimeSpan.FromMilliseconds(200)));
        tun.FlushFrames();

        for (int i = 0; i < Count; i++)
        {
            byte[] reply = Packets.ReadUntil(tun, PacketTimeout, p => EchoReply(p, out _));
            Assert.True(EchoReply(reply, out uint answer));
            Assert.Equal((0x4242u << 16) | (uint)i, answer); // identifier and sequence number: in the order queued
        }
        Assert.Equal(tun.BatchesWrites ? 1 : 0, tun.BatchSubmissions);

        // A batch of one goes by write(2): no submission (request/response answers cost what they did).
        Assert.True(PacketWriter.TryWriteIpv4Icmp(arena.AsSpan(0, 64), new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress),
            IcmpType.EchoRequest, 0, 0x43430000u, [], out int single));
        tun.QueueFrame(arena.AsSpan(0, single), default);
        tun.FlushFrames();
        Packets.ReadUntil(tun, PacketTimeout, p => EchoReply(p, out uint id) && id == 0x43430000u);
        Assert.Equal(tun.BatchesWrites ? 1 : 0, tun.BatchSubmissions);
        Assert.Equal(0, tun.WritesDropped);
    }

    [RequiresNetAdminFact]
    public void Queueing_more_frames_than_a_batch_holds_flushes_the_full_batch_first_and_keeps_the_order()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        const int Count = 200; // more than the 128 entries of the ring
        byte[] arena = GC.AllocateArray<byte>(Count * 64, pinned: true);
        for (int i = 0; i < Count; i++)
        {
            Assert.True(PacketWriter.TryWriteIpv4Icmp(arena.AsSpan(i * 64, 64), new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress),
                IcmpType.EchoRequest, 0, (0x4444u << 16) | (uint)i, [], out int length));
            tun.QueueFrame(arena.AsSpan(i * 64, length), default);
        }
        tun.FlushFrames();

        for (int i = 0; i < Count; i++)
        {
            byte[] reply = Packets.ReadUntil(tun, PacketTimeout, p => EchoReply(p, out _));
            Assert.True(EchoReply(reply, out uint answer));
            Assert.Equal((0x4444u << 16) | (uint)i, answer);
        }
        Assert.Equal(tun.BatchesWrites ? 2 : 0, tun.BatchSubmissions); // 128, then the other 72
        Assert.Equal(0, tun.WritesDropped);
    }

    [RequiresNetAdminFact]
    public void A_device_dropped_without_dispose_closes_with_its_write_ring_when_collected()
    {
        using NetNamespace ns = NetNamespace.Create();
        OpenAndDrop(ns);

        // Nothing holds the descriptor open past its finalizer: not the write ring, which takes it only while it flushes.
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.NotEqual(0, ns.Ip("link", "show", "dev", Addresses.Interface).ExitCode);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void OpenAndDrop(NetNamespace ns)
    {
        TunDevice tun = ns.OpenTun(Addresses.Options());
        byte[] arena = GC.AllocateArray<byte>(2 * 64, pinned: true);
        for (int i = 0; i < 2; i++)
        {
            PacketWriter.TryWriteIpv4Icmp(arena.AsSpan(i * 64, 64), new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress),
                IcmpType.EchoRequest, 0, (uint)i, [], out int length);
            tun.QueueFrame(arena.AsSpan(i * 64, length), default);
        }
        tun.FlushFrames();
        Assert.Equal(0, ns.Ip("link", "show", "dev", Addresses.Interface).ExitCode);
    }

    private static bool EchoReply(ReadOnlySpan<byte> packet, out uint identifierAndSequence)
    {
        identifierAndSequence = 0;
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != WireError.None || IcmpPacket.TryParse(ip, out IcmpPacket icmp) != WireError.None
            || icmp.Type != IcmpType.EchoReply)
        {
            return false;
        }
        identifierAndSequence = icmp.RestOfHeader;
        return true;
    }

    [Fact]
    public void Entering_a_namespace_that_does_not_exist_says_how_to_create_it()
    {
        TunException error = Assert.Throws<TunException>(() =>
            NetworkNamespace.Invoke("utcp-it-no-such-namespace", () => TunDevice.Open(Addresses.Options())));

        Assert.Equal("network namespace utcp-it-no-such-namespace not found: create it with ip netns add utcp-it-no-such-namespace", error.Message);
    }
}
