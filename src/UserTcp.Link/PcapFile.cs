using System.Buffers.Binary;

namespace UserTcp.Link;

/// <summary>
/// Writes a classic libpcap capture (microsecond timestamps, version 2.4, LINKTYPE_RAW: each record is a bare IPv4
/// packet) that tcpdump, tshark and Wireshark read. Simulated instants become wall-clock times by adding them to
/// <see cref="Epoch"/>. Little-endian, as libpcap writes on x86; readers detect the order from the magic number.
/// </summary>
public sealed class PcapFile : IDisposable
{
    /// <summary>Where simulated time 0 lands unless the caller chooses: 2026-01-01 00:00:00 UTC.</summary>
    public static readonly DateTimeOffset DefaultEpoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The magic number of a pcap file with microsecond timestamps.</summary>
    public const uint MagicMicroseconds = 0xA1B2C3D4;
    /// <summary>The longest packet a record keeps.</summary>
    public const int SnapshotLength = 65535;
    /// <summary>LINKTYPE_RAW: packets begin with the IP header, no link-layer header.</summary>
    public const uint LinkTypeRaw = 101;
    /// <summary>The length of the global header.</summary>
    public const int FileHeaderLength = 24;
    /// <summary>The length of each record's header.</summary>
    public const int RecordHeaderLength = 16;

    // Invariant: the global header has been written; records follow it in the order Write was called.
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    // Invariant: Epoch in microseconds since 1970-01-01 UTC.
    private readonly long _epochMicroseconds;
    private bool _disposed;

    /// <summary>Starts a capture on <paramref name="stream"/> by writing the global header.</summary>
    public PcapFile(Stream stream, DateTimeOffset? epoch = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _leaveOpen = leaveOpen;
        Epoch = epoch ?? DefaultEpoch;
        _epochMicroseconds = (Epoch - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;
        Span<byte> header = stackalloc byte[FileHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(header, MagicMicroseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0); // thiszone: timestamps are UTC
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0); // sigfigs: always 0 in practice
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], SnapshotLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], LinkTypeRaw);
        _stream.Write(header);
    }

    /// <summary>Creates (or replaces) a capture file at <paramref name="path"/>.</summary>
    public static PcapFile Create(string path, DateTimeOffset? epoch = null) => new(File.Create(path), epoch);

    /// <summary>The wall-clock time simulated instant zero is written as.</summary>
    public DateTimeOffset Epoch { get; }

    /// <summary>Packets written so far.</summary>
    public long PacketsWritten { get; private set; }

    /// <summary>Appends one packet seen at simulated instant <paramref name="at"/>; bytes past the snapshot length are cut off, as libpcap does.</summary>
    public void Write(ReadOnlySpan<byte> packet, TimeSpan at)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long microseconds = _epochMicroseconds + at.Ticks / TimeSpan.TicksPerMicrosecond;
        long seconds = Math.DivRem(microseconds, 1_000_000, out long fraction);
        // The record's seconds field is an unsigned 32-bit count since 1970.
        if (microseconds < 0 || seconds > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(at), at, $"{Epoch:O} + {at} is outside 1970..2106, which a pcap timestamp cannot hold");
        }
        int included = Math.Min(packet.Length, SnapshotLength);
        Span<byte> header = stackalloc byte[RecordHeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)fraction);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)included);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)packet.Length);
        _stream.Write(header);
        _stream.Write(packet[..included]);
        PacketsWritten++;
    }

    /// <summary>Pushes buffered records to the stream's backing store, so a reader sees them while the capture goes on.</summary>
    public void Flush() => _stream.Flush();

    /// <summary>Flushes, and closes the stream unless it was opened with leaveOpen.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stream.Flush();
        if (!_leaveOpen) _stream.Dispose();
    }
}
