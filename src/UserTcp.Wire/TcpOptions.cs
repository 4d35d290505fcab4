using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace UserTcp.Wire;

/// <summary>
/// The TCP options of one segment as values (the summary the engine works with).
/// <see cref="TryWrite"/> emits them in the layout Linux uses (tcp_options_write): MSS; SACK-permitted
/// beside timestamps or after two NOPs; NOP + window scale; NOP NOP + SACK blocks; the Fast Open cookie, padded with
/// two NOPs when its length is 2 mod 4 — so a Linux segment parsed and re-emitted is byte-identical. Repeated options:
/// the last one wins, as in Linux.
/// </summary>
public struct TcpOptions : IEquatable<TcpOptions>
{
    /// <summary>At most 40 bytes of options fit in a TCP header (data offset ≤ 15 words).</summary>
    public const int MaxLength = 40;
    /// <summary>The most SACK blocks a segment carries (four fit in 40 option bytes without timestamps).</summary>
    public const int MaxSackBlocks = 4;

    [InlineArray(MaxSackBlocks)]
    private struct SackBlockArray
    {
        private SackBlock _element;
    }

    private SackBlockArray _sackBlocks;
    // Invariant: 0 <= _sackCount <= MaxSackBlocks; elements beyond it are default.
    private int _sackCount;

    /// <summary>Maximum segment size (RFC 9293 §3.7.1); SYN only.</summary>
    public ushort? MaxSegmentSize { get; set; }
    /// <summary>Window scale shift count as sent (RFC 7323 §2.3; receivers clamp values above 14).</summary>
    public byte? WindowScale { get; set; }
    /// <summary>SACK-permitted (RFC 2018 §2); SYN only.</summary>
    public bool SackPermitted { get; set; }
    /// <summary>Timestamps TSval/TSecr (RFC 7323 §3).</summary>
    public TcpTimestamp? Timestamp { get; set; }
    /// <summary>Which Fast Open option is carried (RFC 7413 §4.1.1); <see cref="TcpFastOpenKind.None"/> when none.</summary>
    public TcpFastOpenKind FastOpen { get; set; }
    /// <summary>The Fast Open cookie, meaningful when <see cref="FastOpen"/> is set; empty is a cookie request.</summary>
    public TcpFastOpenCookie FastOpenCookie { get; set; }

    /// <summary>The experimental option's kind and its magic number (RFC 6994; Linux's TCPOPT_EXP, TCPOPT_FASTOPEN_MAGIC).</summary>
    public const ushort FastOpenMagic = 0xF989;

    /// <summary>The SACK blocks carried, in wire order.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<SackBlock> SackBlocks => ((ReadOnlySpan<SackBlock>)_sackBlocks)[.._sackCount];

    /// <summary>Appends a SACK block; false when four are already held.</summary>
    public bool AddSackBlock(SackBlock block)
    {
        if (_sackCount == MaxSackBlocks) return false;
        _sackBlocks[_sackCount++] = block;
        return true;
    }

    /// <summary>Keeps only the first <paramref name="count"/> SACK blocks (the most recent, RFC 2018 §4).</summary>
    public void TrimSackBlocks(int count)
    {
        for (int i = Math.Max(0, count); i < _sackCount; i++) _sackBlocks[i] = default;
        _sackCount = Math.Clamp(count, 0, _sackCount);
    }

    /// <summary>Removes every SACK block.</summary>
    public void ClearSackBlocks()
    {
        _sackBlocks = default;
        _sackCount = 0;
    }

    /// <summary>True when no option is set.</summary>
    public readonly bool IsEmpty =>
        MaxSegmentSize is null && WindowScale is null && !SackPermitted && Timestamp is null && _sackCount == 0 && FastOpen == TcpFastOpenKind.None;

    /// <summary>Sets the Fast Open option to <paramref name="kind"/> carrying <paramref name="cookie"/> (empty: a cookie request).</summary>
    public void SetFastOpen(TcpFastOpenKind kind, in TcpFastOpenCookie cookie)
    {
        FastOpen = kind;
        FastOpenCookie = kind == TcpFastOpenKind.None ? default : cookie;
    }

    /// <summary>Parses an options area. Never throws; malformed lengths give <see cref="WireError.MalformedOption"/>.</summary>
    public static WireError TryParse(ReadOnlySpan<byte> raw, out TcpOptions options)
    {
        options = default;
        var reader = new TcpOptionReader(raw);
        while (reader.MoveNext())
        {
            ReadOnlySpan<byte> data = reader.Current.Data;
            switch (reader.Current.Kind)
            {
                case TcpOptionKind.MaxSegmentSize:
                    options.MaxSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(data);
                    break;
                case TcpOptionKind.WindowScale:
                    options.WindowScale = data[0];
                    break;
                case TcpOptionKind.SackPermitted:
                    options.SackPermitted = true;
                    break;
                case TcpOptionKind.Timestamps:
                    options.Timestamp = new TcpTimestamp(BinaryPrimitives.ReadUInt32BigEndian(data), BinaryPrimitives.ReadUInt32BigEndian(data[4..]));
                    break;
                case TcpOptionKind.Sack:
                    options.ClearSackBlocks();
                    for (int i = 0; i + 8 <= data.Length; i += 8)
                    {
                        // More than four blocks cannot fit in 40 bytes, so AddSackBlock cannot refuse here.
                        options.AddSackBlock(new SackBlock(
                            new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(data[i..])),
                            new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..]))));
                    }
                    break;
                case TcpOptionKind.FastOpen:
                    options.ParseFastOpen(TcpFastOpenKind.Rfc7413, data);
                    break;
                case TcpOptionKind.Experimental when data.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(data) == FastOpenMagic:
                    options.ParseFastOpen(TcpFastOpenKind.Experimental, data[2..]);
                    break;
            }
        }
        return reader.Error;
    }

    /// <summary>
    /// Linux's tcp_parse_fastopen_option: an odd length is ignored, another length outside 0 and 4..16 removes the
    /// option (not malformed: the segment is still taken).
    /// </summary>
    private void ParseFastOpen(TcpFastOpenKind kind, ReadOnlySpan<byte> cookie)
    {
        if ((cookie.Length & 1) != 0) return;
        if (TcpFastOpenCookie.TryCreate(cookie, out TcpFastOpenCookie value)) SetFastOpen(kind, value);
        else SetFastOpen(TcpFastOpenKind.None, default);
    }

    /// <summary>Bytes the Fast Open option takes with its padding (tcp_options_write: NOP NOP after a length of 2 mod 4).</summary>
    private readonly int FastOpenLength => FastOpen switch
    {
        TcpFastOpenKind.None => 0,
        TcpFastOpenKind.Experimental => (4 + FastOpenCookie.Length + 3) & ~3,
        _ => (2 + FastOpenCookie.Length + 3) & ~3,
    };

    /// <summary>How many SACK blocks <see cref="TryWrite"/> emits: as many as fit beside the other options.</summary>
    private readonly int SackBlocksThatFit
    {
        get
        {
            int room = MaxLength - FixedLength - 4;
            return _sackCount == 0 || room < 8 ? 0 : Math.Min(_sackCount, room / 8);
        }
    }

    /// <summary>Bytes of every option except SACK blocks, in Linux's layout.</summary>
    private readonly int FixedLength =>
        (MaxSegmentSize is null ? 0 : 4)
        + (Timestamp is not null ? 12 : SackPermitted ? 4 : 0)
        + (WindowScale is null ? 0 : 4)
        + FastOpenLength;

    /// <summary>Bytes <see cref="TryWrite"/> emits: a multiple of 4, at most <see cref="MaxLength"/>.</summary>
    public readonly int EncodedLength
    {
        get
        {
            int blocks = SackBlocksThatFit;
            return FixedLength + (blocks == 0 ? 0 : 4 + 8 * blocks);
        }
    }

    /// <summary>
    /// Writes the options in Linux's layout. SACK blocks that do not fit in 40 bytes are left out (the first ones,
    /// which RFC 2018 §4 says carry the most recent information, are kept). False when the destination is too short.
    /// </summary>
    public readonly bool TryWrite(Span<byte> destination, out int bytesWritten)
    {
        bytesWritten = EncodedLength;
        if (destination.Length < bytesWritten)
        {
            bytesWritten = 0;
            return false;
        }
        int at = 0;
        if (MaxSegmentSize is ushort mss)
        {
            WriteHeader(destination, ref at, TcpOptionKind.MaxSegmentSize, 4);
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], mss);
            at += 2;
        }
        if (Timestamp is TcpTimestamp ts)
        {
            if (SackPermitted)
            {
                WriteHeader(destination, ref at, TcpOptionKind.SackPermitted, 2);
            }
            else
            {
                destination[at++] = (byte)TcpOptionKind.NoOperation;
                destination[at++] = (byte)TcpOptionKind.NoOperation;
            }
            WriteHeader(destination, ref at, TcpOptionKind.Timestamps, 10);
            BinaryPrimitives.WriteUInt32BigEndian(destination[at..], ts.Value);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(at + 4)..], ts.EchoReply);
            at += 8;
        }
        else if (SackPermitted)
        {
            destination[at++] = (byte)TcpOptionKind.NoOperation;
            destination[at++] = (byte)TcpOptionKind.NoOperation;
            WriteHeader(destination, ref at, TcpOptionKind.SackPermitted, 2);
        }
        if (WindowScale is byte shift)
        {
            destination[at++] = (byte)TcpOptionKind.NoOperation;
            WriteHeader(destination, ref at, TcpOptionKind.WindowScale, 3);
            destination[at++] = shift;
        }
        int blocks = SackBlocksThatFit;
        if (blocks > 0)
        {
            destination[at++] = (byte)TcpOptionKind.NoOperation;
            destination[at++] = (byte)TcpOptionKind.NoOperation;
            WriteHeader(destination, ref at, TcpOptionKind.Sack, (byte)(2 + 8 * blocks));
            foreach (SackBlock block in SackBlocks[..blocks])
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[at..], block.Left.Value);
                BinaryPrimitives.WriteUInt32BigEndian(destination[(at + 4)..], block.Right.Value);
                at += 8;
            }
        }
        if (FastOpen != TcpFastOpenKind.None)
        {
            ReadOnlySpan<byte> cookie = FastOpenCookie.Value;
            if (FastOpen == TcpFastOpenKind.Experimental)
            {
                WriteHeader(destination, ref at, TcpOptionKind.Experimental, (byte)(4 + cookie.Length));
                BinaryPrimitives.WriteUInt16BigEndian(destination[at..], FastOpenMagic);
                at += 2;
            }
            else
            {
                WriteHeader(destination, ref at, TcpOptionKind.FastOpen, (byte)(2 + cookie.Length));
            }
            cookie.CopyTo(destination[at..]);
            at += cookie.Length;
            // Cookies are even in length, so the option ends 0 or 2 bytes short of a word.
            if ((at & 3) == 2)
            {
                destination[at++] = (byte)TcpOptionKind.NoOperation;
                destination[at++] = (byte)TcpOptionKind.NoOperation;
            }
        }
        return true;
    }

    private static void WriteHeader(Span<byte> destination, ref int at, TcpOptionKind kind, byte length)
    {
        destination[at++] = (byte)kind;
        destination[at++] = length;
    }

    /// <inheritdoc/>
    public readonly bool Equals(TcpOptions other) =>
        MaxSegmentSize == other.MaxSegmentSize && WindowScale == other.WindowScale && SackPermitted == other.SackPermitted
        && Timestamp == other.Timestamp && SackBlocks.SequenceEqual(other.SackBlocks)
        && FastOpen == other.FastOpen && FastOpenCookie == other.FastOpenCookie;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is TcpOptions other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(MaxSegmentSize, WindowScale, SackPermitted, Timestamp, _sackCount);

    /// <summary>True when both hold the same options and SACK blocks.</summary>
    public static bool operator ==(TcpOptions left, TcpOptions right) => left.Equals(right);
    /// <summary>True when the options or SACK blocks differ.</summary>
    public static bool operator !=(TcpOptions left, TcpOptions right) => !left.Equals(right);
}
