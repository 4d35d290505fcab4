using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>The lab's capture, written after the run: a kernel packet UserTcp read late says so, in a live capture's words (no root).</summary>
public sealed class LabCaptureCommentTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-labcomment-").FullName;

    [Fact]
    public void A_kernel_packet_read_a_millisecond_or_more_late_is_commented_and_no_other_is()
    {
        var wire = new WireRecorder();
        // The tap's read instants: the kernel's SYN and its data, and UserTcp's SYN-ACK between them.
        wire.Record(Tcp(TcpFlags.Syn, seq: 0, fromKernel: true), PacketDirection.Inbound, Ms(20), null);
        wire.Record(Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 0, fromKernel: false), PacketDirection.Outbound, Ms(21), null);
        wire.Record(Tcp(TcpFlags.Ack | TcpFlags.Psh, seq: 1, fromKernel: true, payload: 100), PacketDirection.Inbound, Ms(30), null);
        KernelTransmission[] sent =
        [
            new(Ms(19.5), wire.Packets[0].Segment), // read 0.5 ms later: the reader's usual wake-up
            new(Ms(17.5), wire.Packets[2].Segment), // read 12.5 ms later: worth saying
        ];
        IReadOnlyList<WirePacket> timed = KernelTransmitTimes.Apply(wire.Packets, sent);
        string path = Path.Combine(_directory, "lab.pcapng");

        wire.WriteCapture(path, timed, DateTimeOffset.UnixEpoch, "utcp0", "kernel 10.77.0.1/24 - UserTcp 10.77.0.2");

        IReadOnlyList<CapturedSegment> captured = Pcap.ReadTcp(path);
        // In the order of their instants: the data (17.5 ms), the SYN (19.5 ms), the SYN-ACK (21 ms).
        Assert.Equal([TcpFlags.Ack | TcpFlags.Psh, TcpFlags.Syn, TcpFlags.Syn | TcpFlags.Ack], captured.Select(s => s.Flags));
        Assert.Equal(["UserTcp read it 12.5 ms later"], captured[0].Comments);
        Assert.Empty(captured[1].Comments);
        Assert.Empty(captured[2].Comments);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static byte[] Tcp(TcpFlags flags, uint seq, bool fromKernel, int payload = 0)
    {
        var tcp = new TcpRepr
        {
            SourcePort = fromKernel ? (ushort)40000 : (ushort)5000,
            DestinationPort = fromKernel ? (ushort)5000 : (ushort)40000,
            SequenceNumber = new SeqNumber(seq),
            AcknowledgmentNumber = new SeqNumber(1),
            Flags = flags,
            Window = 64240,
            Payload = new byte[payload],
        };
        byte[] buffer = new byte[PacketWriter.Ipv4TcpLength(tcp)];
        var ip = fromKernel ? new Ipv4Repr(Addresses.KernelAddress, Addresses.StackAddress) : new Ipv4Repr(Addresses.StackAddress, Addresses.KernelAddress);
        Assert.True(PacketWriter.TryWriteIpv4Tcp(buffer, ip, tcp, out _));
        return buffer;
    }
}
