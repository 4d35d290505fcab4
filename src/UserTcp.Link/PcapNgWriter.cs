using System.Buffers.Binary;
using System.Text;

namespace UserTcp.Link;

/// <summary>
/// Writes a pcapng capture (RFC draft-ietf-opsawg-pcapng: one Section Header, one Interface Description with
/// LINKTYPE_RAW, then an Enhanced Packet Block per packet) that tcpdump, tshark and Wireshark read. Each packet a
/// fault touched carries a comment saying what happened ("usertcp fault: dropped by rule 'drop from-kernel
/// flags=FIN nth=1' (never reached UserTcp)"), which Wireshark shows in the packet list's comment column, in the
/// packet's details and as expert info (filter <c>frame.comment contains "dropped"</c>); dropped packets are
/// written too, so the capture holds every packet either side sent.
/// <para>
/// The interface is the TUN link; each packet's direction flag is the kernel interface's view, as tcpdump -i on it
/// shows: what UserTcp sends is inbound, what the kernel sends is outbound. Little-endian; microsecond timestamps.
/// Thread-safe: the device's reader and writers record at once.
/// </para>
/// </summary>
public sealed class PcapNgWriter : IPacketTap, IDisposable
{
    /// <summary>Prefixed to every fault comment, so a display filter finds them all.</summary>
    public const string CommentPrefix = "usertcp fault: ";
    /// <summary>The block type of a section header block.</summary>
    public const uint SectionHeaderType = 0x0A0D0D0A;
    /// <summary>The block type of an interface description block.</summary>
    public const uint InterfaceDescriptionType = 1;
    /// <summary>The block type of an enhanced packet block.</summary>
    public const uint EnhancedPacketType = 6;
    /// <summary>The byte-order magic of a section header.</summary>
    public const uint ByteOrderMagic = 0x1A2B3C4D;
    /// <summary>LINKTYPE_RAW: packets begin with the IP header.</summary>
    public const ushort LinkTypeRaw = 101;
    /// <summary>The longest packet a block keeps.</summary>
    public const int SnapshotLength = 65535;
    // Option codes: opt_endofopt, opt_comment (any block), shb_userappl, if_name, if_description, if_tsresol, epb_flags.
    private const ushort EndOfOptions = 0, Comment = 1, UserApplication = 4, InterfaceName = 2, InterfaceDescription = 3, TimestampResolution = 9, Flags = 2;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly long _epochMicroseconds;
    // Guards _stream, _block and PacketsWritten: one record at a time.
    private readonly Lock _gate = new();
    private readonly MemoryStream _block = new();
    private bool _disposed;

    /// <param name="stream">Where the file is written.</param>
    /// <param name="epoch">The wall-clock time of instant zero of the device's clock.</param>
    /// <param name="interfaceName">The TUN interface's name, e.g. utcp0.</param>
    /// <param name="interfaceDescription">What the link joins, e.g. "kernel 10.77.0.1 ─ UserTcp 10.77.0.2".</param>
    /// <param name="leaveOpen">True to leave <paramref name="stream"/> open on dispose.</param>
    public PcapNgWriter(Stream stream, DateTimeOffset epoch, string interfaceName, string? interfaceDescription = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        _stream = stream;
        _leaveOpen = leaveOpen;
        Epoch = epoch;
        _epochMicroseconds = (epoch - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

        BeginBlock(SectionHeaderType);
        WriteUInt32(ByteOrderMagic);
        WriteUInt16(1); // major version
        WriteUInt16(0); // minor version
        WriteInt64(-1); // section length: not given
        WriteOption(UserApplication, Encoding.UTF8.GetBytes("UserTcp"));
        EndOptions();
        EndBlock();

        BeginBlock(InterfaceDescriptionType);
        WriteUInt16(LinkTypeRaw);
        WriteUInt16(0); // reserved
        WriteUInt32(SnapshotLength);
        WriteOption(InterfaceName, Encoding.UTF8.GetBytes(interfaceName));
        if (interfaceDescription is not null) WriteOption(InterfaceDescription, Encoding.UTF8.GetBytes(interfaceDescription));
        WriteOption(TimestampResolution, [6]); // 10^-6 s
        EndOptions();
        EndBlock();
        _stream.Flush();
    }

    /// <summary>Creates (or replaces) a capture file at <paramref name="path"/>.</summary>
    public static PcapNgWriter Create(string path, DateTimeOffset epoch, string interfaceName, string? interfaceDescription = null) =>
        new(File.Create(path), epoch, interfaceName, interfaceDescription);

    /// <summary>The wall-clock instant of time zero.</summary>
    public DateTimeOffset Epoch { get; }

    /// <summary>Packets written so far.</summary>
    public long PacketsWritten { get; private set; }

    /// <inheritdoc/>
    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault) => Record(packet, direction, at, fault, null);

    /// <summary>Records one packet as <see cref="IPacketTap.Record"/> does, with a <paramref name="comment"/> of its own beside any fault's.</summary>
    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault, string? comment)
    {
        long microseconds = _epochMicroseconds + at.Ticks / TimeSpan.TicksPerMicrosecond;
        int included = Math.Min(packet.Length, SnapshotLength);
        lock (_gate)
        {
            if (_disposed) return; // a late packet from a device being torn down
            BeginBlock(EnhancedPacketType);
            WriteUInt32(0); // interface id
            WriteUInt32((uint)((ulong)microseconds >> 32));
            WriteUInt32((uint)microseconds);
            WriteUInt32((uint)included);
            WriteUInt32((uint)packet.Length);
            _block.Write(packet[..included]);
            Pad();
            if (fault is FaultNote note) WriteOption(Comment, Encoding.UTF8.GetBytes(CommentPrefix + note.Text));
            if (comment is not null) WriteOption(Comment, Encoding.UTF8.GetBytes(comment));
            // epb_flags bits 0-1: 1 inbound, 2 outbound, as the kernel's interface sees the packet.
            Span<byte> flags = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(flags, direction == PacketDirection.Outbound ? 1u : 2u);
            WriteOption(Flags, flags);
            EndOptions();
            EndBlock();
            PacketsWritten++;
        }
    }

    /// <summary>Pushes what is written to the file, so a reader sees it while the capture goes on.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            if (!_disposed) _stream.Flush();
        }
    }

    /// <summary>Flushes the file and closes the stream unless it was to be left open.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _stream.Flush();
            if (!_leaveOpen) _stream.Dispose();
        }
    }

    // A block is assembled in _block (type, a length placeholder, body), then its length is patched in, repeated at
    // its end, and the whole block goes to the stream in one write.
    private void BeginBlock(uint type)
    {
        _block.SetLength(0);
        WriteUInt32(type);
        WriteUInt32(0);
    }

    private void EndBlock()
    {
        uint length = (uint)_block.Length + 4;
        WriteUInt32(length);
        byte[] buffer = _block.GetBuffer();
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), length);
        _stream.Write(buffer, 0, (int)_block.Length);
    }

    private void WriteOption(ushort code, ReadOnlySpan<byte> value)
    {
        WriteUInt16(code);
        WriteUInt16((ushort)value.Length);
        _block.Write(value);
        Pad();
    }

    private void EndOptions()
    {
        WriteUInt16(EndOfOptions);
        WriteUInt16(0);
    }

    private void Pad()
    {
        while (_block.Length % 4 != 0) _block.WriteByte(0);
    }

    private void WriteUInt16(ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        _block.Write(bytes);
    }

    private void WriteUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        _block.Write(bytes);
    }

    private void WriteInt64(long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        _block.Write(bytes);
    }
}
