using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace UserTcp.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the one's complement of the one's complement sum of 16-bit words.
/// Sums are kept as <see cref="ulong"/> accumulators of words read in the machine's own byte order,
/// which RFC 1071 §2(B) allows because the one's complement sum commutes with byte swapping;
/// <see cref="Finish"/> folds and converts to the network-order value found in a header.
/// </summary>
public static class InternetChecksum
{
    /// <summary>
    /// Vector lanes are 32-bit and each add contributes at most 0xFFFF; this many bytes per chunk keeps
    /// every lane below 2^32 (2 adds per lane per 64 bytes → 2 * 0xFFFF * chunk/64 &lt; 2^32).
    /// </summary>
    private const int VectorChunkBytes = 64 * 16384;

    /// <summary>The checksum of <paramref name="data"/> alone, in network order (as stored in a header).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(0, data));

    /// <summary>Adds <paramref name="data"/> to a running sum. Only the final span of a message may have odd length.</summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> data) =>
        Add(sum, data, Vector256.IsHardwareAccelerated, Vector128.IsHardwareAccelerated);

    /// <summary>Add with the vector widths chosen by the caller, so tests can check every path on one machine.</summary>
    internal static ulong Add(ulong sum, ReadOnlySpan<byte> data, bool useVector256, bool useVector128)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int offset = 0;

        if (useVector256 && length >= 64)
        {
            offset = AddVector256(ref start, length, ref sum);
        }
        else if (useVector128 && length >= 64)
        {
            offset = AddVector128(ref start, length, ref sum);
        }

        // Scalar tail (and short spans, headers: a vector pass costs more below 64 bytes): 8 bytes at a time as two 32-bit
        // words (their sum folds to the same one's complement sum as the 16-bit words', RFC 1071 §2(C)), then 4, 2 and 1.
        for (; offset + 8 <= length; offset += 8)
        {
            ulong quad = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
            sum += (quad & 0xFFFF_FFFF) + (quad >> 32);
        }
        for (; offset + 4 <= length; offset += 4)
        {
            uint pair = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset));
            sum += (pair & 0xFFFF) + (pair >> 16);
        }
        if (offset + 2 <= length)
        {
            sum += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, offset));
            offset += 2;
        }
        if (offset < length)
        {
            // The odd byte is the high-order byte of a zero-padded network word (RFC 1071 §4.1).
            byte last = Unsafe.Add(ref start, offset);
            sum += BitConverter.IsLittleEndian ? last : (uint)last << 8;
        }
        return sum;
    }

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> and adds it to a running sum in the same pass, so
    /// a segment's payload is read once (issue 10: fold the payload's checksum into its copy). Same rules as
    /// <see cref="Add(ulong, ReadOnlySpan{byte})"/>: only the last span of a message may have odd length.
    /// </summary>
    internal static ulong CopyAndAdd(ulong sum, ReadOnlySpan<byte> source, Span<byte> destination) =>
        CopyAndAdd(sum, source, destination, Vector256.IsHardwareAccelerated);

    /// <summary>CopyAndAdd with the vector path chosen by the caller, so tests can check both on one machine.</summary>
    internal static ulong CopyAndAdd(ulong sum, ReadOnlySpan<byte> source, Span<byte> destination, bool useVector256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length, nameof(destination));
        int offset = 0;
        if (useVector256 && source.Length >= 64)
        {
            ref byte from = ref MemoryMarshal.GetReference(source);
            ref byte to = ref MemoryMarshal.GetReference(destination);
            Vector256<uint> low = Vector256.Create(0xFFFFu);
            int vectorEnd = source.Length & ~63;
            while (offset < vectorEnd)
            {
                int chunkEnd = Math.Min(vectorEnd, offset + VectorChunkBytes);
                Vector256<uint> a = Vector256<uint>.Zero, b = Vector256<uint>.Zero;
                for (; offset < chunkEnd; offset += 64)
                {
                    Vector256<byte> v0 = Vector256.LoadUnsafe(ref from, (nuint)offset);
                    Vector256<byte> v1 = Vector256.LoadUnsafe(ref from, (nuint)offset + 32);
                    v0.StoreUnsafe(ref to, (nuint)offset);
                    v1.StoreUnsafe(ref to, (nuint)offset + 32);
                    a += (v0.AsUInt32() & low) + (v1.AsUInt32() & low);
                    b += (v0.AsUInt32() >> 16) + (v1.AsUInt32() >> 16);
                }
                (Vector256<ulong> aLo, Vector256<ulong> aHi) = Vector256.Widen(a);
                (Vector256<ulong> bLo, Vector256<ulong> bHi) = Vector256.Widen(b);
                sum += Vector256.Sum(aLo + aHi + bLo + bHi);
            }
        }
        ReadOnlySpan<byte> rest = source[offset..];
        rest.CopyTo(destination[offset..]);
        return Add(sum, rest); // offset is even: the rest's words line up with the message's
    }

    /// <summary>Adds one 16-bit value given in network order (host value, e.g. a protocol number or length).</summary>
    public static ulong AddWord(ulong sum, ushort networkOrderValue) =>
        sum + (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(networkOrderValue) : networkOrderValue);

    /// <summary>The IPv4 pseudo-header sum (RFC 9293 §3.1): source, destination, zero, protocol, TCP length.</summary>
    public static ulong PseudoHeader(Ipv4Address source, Ipv4Address destination, byte protocol, ushort length)
    {
        ulong sum = 0;
        sum = AddWord(sum, (ushort)(source.Value >> 16));
        sum = AddWord(sum, (ushort)source.Value);
        sum = AddWord(sum, (ushort)(destination.Value >> 16));
        sum = AddWord(sum, (ushort)destination.Value);
        sum = AddWord(sum, protocol);
        return AddWord(sum, length);
    }

    /// <summary>Folds a running sum to 16 bits and complements it; returns the network-order checksum value.
    /// A message that includes a correct checksum field finishes to 0.</summary>
    public static ushort Finish(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        ushort folded = (ushort)~sum;
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    private static int AddVector256(ref byte start, int length, ref ulong sum)
    {
        Vector256<uint> low = Vector256.Create(0xFFFFu);
        int offset = 0;
        int vectorEnd = length & ~31;
        while (offset < vectorEnd)
        {
            int chunkEnd = Math.Min(vectorEnd, offset + VectorChunkBytes);
            Vector256<uint> a = Vector256<uint>.Zero, b = Vector256<uint>.Zero;
            for (; offset + 64 <= chunkEnd; offset += 64)
            {
                Vector256<uint> v0 = Vector256.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                Vector256<uint> v1 = Vector256.LoadUnsafe(ref start, (nuint)offset + 32).AsUInt32();
                a += (v0 & low) + (v1 & low);
                b += (v0 >> 16) + (v1 >> 16);
            }
            if (offset + 32 <= chunkEnd)
            {
                Vector256<uint> v0 = Vector256.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                a += v0 & low;
                b += v0 >> 16;
                offset += 32;
            }
            (Vector256<ulong> aLo, Vector256<ulong> aHi) = Vector256.Widen(a);
            (Vector256<ulong> bLo, Vector256<ulong> bHi) = Vector256.Widen(b);
            sum += Vector256.Sum(aLo + aHi + bLo + bHi);
        }
        return offset;
    }

    private static int AddVector128(ref byte start, int length, ref ulong sum)
    {
        Vector128<uint> low = Vector128.Create(0xFFFFu);
        int offset = 0;
        int vectorEnd = length & ~15;
        while (offset < vectorEnd)
        {
            int chunkEnd = Math.Min(vectorEnd, offset + VectorChunkBytes / 2);
            Vector128<uint> a = Vector128<uint>.Zero, b = Vector128<uint>.Zero;
            for (; offset + 32 <= chunkEnd; offset += 32)
            {
                Vector128<uint> v0 = Vector128.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                Vector128<uint> v1 = Vector128.LoadUnsafe(ref start, (nuint)offset + 16).AsUInt32();
                a += (v0 & low) + (v1 & low);
                b += (v0 >> 16) + (v1 >> 16);
            }
            if (offset + 16 <= chunkEnd)
            {
                Vector128<uint> v0 = Vector128.LoadUnsafe(ref start, (nuint)offset).AsUInt32();
                a += v0 & low;
                b += v0 >> 16;
                offset += 16;
            }
            (Vector128<ulong> aLo, Vector128<ulong> aHi) = Vector128.Widen(a);
            (Vector128<ulong> bLo, Vector128<ulong> bHi) = Vector128.Widen(b);
            sum += Vector128.Sum(aLo + aHi + bLo + bHi);
        }
        return offset;
    }
}
