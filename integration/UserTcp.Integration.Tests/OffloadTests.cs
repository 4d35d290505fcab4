using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// TUN offloads against the kernel (issue 10 part 2): IFF_VNET_HDR with TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4), the
/// kernel's super-segments taken whole with their partial checksums, ours handed over as TSO super-segments, a clean
/// fallback when the kernel refuses an offload, and plain mode as the switch that turns them off.
/// </summary>
public sealed class OffloadTests : IDisposable
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan PacketTimeout = TimeSpan.FromSeconds(5);
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-offload-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("nc", "sha256sum")]
    public async Task Echo_of_100_MB_is_byte_exact_with_tso_both_ways_and_partial_checksums()
    {
        const long Size = 100L * 1024 * 1024;
        string input = Path.Combine(_directory, "in"), output = Path.Combine(_directory, "out");
        await using (FileStream file = File.Create(input))
        {
            byte[] chunk = new byte[1024 * 1024];
            for (long written = 0; written < Size; written += chunk.Length)
            {
                RandomNumberGenerator.Fill(chunk);
                await file.WriteAsync(chunk);
            }
        }

        await using LiveStack live = LiveStack.Start(bound: PeerTimeout, recordSegments: false, services: true, mode: TunDeviceMode.Offload);
        DeviceOffloads granted = live.Device.Offloads;
        Assert.True(granted.ReceiveSegmentation && granted.ReceiveChecksum && granted.TransmitChecksum && granted.TransmitSegmentation > 0, granted.ToString());
        Assert.Contains("vnet_hdr on", live.Namespace.Ip("-d", "link", "show", Addresses.Interface).OutputText);

        // nc -N sends the file and shuts down its side; echo sends it all back, then closes.
        PeerProgram nc = live.Namespace.Run(PeerTimeout, "bash", "-c", $"nc -N -w 30 {Addresses.Stack} 7 < {input} > {output}");
        Assert.True(nc.ExitCode == 0, nc.Transcript);

        Assert.Equal(Size, new FileInfo(output).Length);
        Assert.Equal(Hash(input), Hash(output));
        // Both directions really used the offloads: the kernel's super-segments with partial checksums arrived uncut, and
        // ours left as super-segments for the kernel to take whole.
        Assert.True(live.Queues.Sum(q => q.SuperSegmentsReceived) > 0, "no super-segment arrived from the kernel");
        Assert.True(live.Queues.Sum(q => q.PartialChecksumsReceived) > 0, "no packet arrived with a partial checksum");
        Assert.True(live.Queues.Sum(q => q.SuperSegmentsSent) > 0, "no super-segment was sent");
        Assert.Equal(0, live.Stack.ProcessingErrors);
    }

    [RequiresNetAdminFact]
    public void A_refused_offload_falls_back_to_checksum_offload_alone_and_packets_still_flow()
    {
        using NetNamespace ns = NetNamespace.Create();
        // An offload bit no kernel knows makes TUNSETOFFLOAD fail with EINVAL, as an old kernel refuses TSO.
        using TunDevice tun = ns.OpenTun(Addresses.Options() with { Offloads = true, ExtraOffloadFlags = 1 << 30 });

        Assert.Equal(10, tun.Offloads.Headroom); // struct virtio_net_hdr
        Assert.True(tun.Offloads.ReceiveChecksum);
        Assert.False(tun.Offloads.ReceiveSegmentation);
        Assert.Equal(tun.Mtu, tun.Offloads.MaxReceivePacket);

        ns.Start(Addresses.KernelConnect);
        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p => Packets.IsTcp(p, TcpFlags.Syn, 80));
        // TryRead completed the partial checksum: the SYN parses with its checksum verified.
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment syn));
        Assert.Equal(TcpFlags.Syn, syn.Flags);
    }

    [RequiresNetAdminFact]
    public void Read_completes_a_partial_udp_checksum_where_the_virtio_header_points_and_leaves_the_payload_alone()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options() with { Offloads = true });
        const string Text = "0123456789abcdefghijklmnopqrstuvwxyz";
        // The kernel's UDP leaves its checksum partial too (csum_offset 6, not TCP's 16).
        ns.Start("bash", "-c", $"echo -n {Text} > /dev/udp/{Addresses.Stack}/9000");

        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p =>
            Ipv4Packet.TryParse(p, out Ipv4Packet ip) == WireError.None && ip.Protocol == Ipv4Packet.ProtocolUdp);

        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet udp));
        Assert.Equal(Text, System.Text.Encoding.ASCII.GetString(udp.Payload[8..]));
        ulong sum = InternetChecksum.PseudoHeader(udp.Source, udp.Destination, Ipv4Packet.ProtocolUdp, (ushort)udp.Payload.Length);
        Assert.Equal(0, InternetChecksum.Finish(InternetChecksum.Add(sum, udp.Payload)));
        Assert.NotEqual(0, System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(udp.Payload[6..])); // 0 would mean "no checksum"
    }

    [RequiresNetAdminFact]
    public async Task Plain_mode_turns_the_offloads_off()
    {
        await using LiveStack live = LiveStack.Start(recordSegments: false, mode: TunDeviceMode.Plain);
        Assert.Equal(default, live.Device.Offloads);
        Assert.False(live.Device.Offloads.Any);
        Assert.Contains("vnet_hdr off", live.Namespace.Ip("-d", "link", "show", Addresses.Interface).OutputText);
    }

    [RequiresNetAdminFact]
    public void Two_queues_open_as_one_multi_queue_interface_with_the_virtio_header()
    {
        using NetNamespace ns = NetNamespace.Create();
        IReadOnlyList<TunDevice> queues = NetworkNamespace.Invoke(ns.Name, () => TunDevice.OpenQueues(Addresses.Options() with { Offloads = true, Queues = 2 }));
        try
        {
            Assert.Equal([0, 1], queues.Select(q => q.Queue));
            Assert.All(queues, q => Assert.Equal(Addresses.Interface, q.Name));
            Assert.All(queues, q => Assert.True(q.Offloads.ReceiveSegmentation));
            PeerProgram ip = ns.Ip("-d", "link", "show", Addresses.Interface);
            Assert.Contains("vnet_hdr on multi_queue numqueues 2 ", ip.OutputText);
        }
        finally
        {
            foreach (TunDevice queue in queues) queue.Dispose();
        }
        Assert.NotEqual(0, ns.Ip("link", "show", Addresses.Interface).ExitCode); // the last queue closed removed it
    }

    private static string Hash(string path)
    {
        using FileStream file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }
}
