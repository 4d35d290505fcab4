using System.Buffers.Binary;

namespace UserTcp.Wire.Tests;

public class ChecksumTests
{
    /// <summary>RFC 1071 §4.1 taken literally: big-endian 16-bit words, odd byte padded, fold, complement.</summary>
    private static ushort ReferenceChecksum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        ulong sum = initial;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    public static TheoryData<bool, bool> Paths => new() { { true, true }, { false, true }, { false, false } };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_length_up_to_2000_matches_the_reference_loop(bool vector256, bool vector128)
    {
        var random = new Random(1071);
        byte[] data = new byte[2000];
        random.NextBytes(data);
        for (int length = 0; length <= data.Length; length++)
        {
            ReadOnlySpan<byte> slice = data.AsSpan(0, length);
            Assert.Equal(ReferenceChecksum(slice), InternetChecksum.Finish(InternetChecksum.Add(0, slice, vector256, vector128)));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Random_buffers_at_random_offsets_match_the_reference_loop(bool vector256, bool vector128)
    {
        var random = new Random(9293);
        byte[] data = new byte[4096];
        for (int round = 0; round < 2000; round++)
        {
            random.NextBytes(data);
            int start = random.Next(0, 64);
            int length = random.Next(0, data.Length - start);
            ReadOnlySpan<byte> slice = data.AsSpan(start, length);
            Assert.Equal(ReferenceChecksum(slice), InternetChecksum.Finish(InternetChecksum.Add(0, slice, vector256, vector128)));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void All_ones_buffers_larger_than_a_vector_chunk_do_not_overflow_the_lanes(bool vector256, bool vector128)
    {
        // 0xFF everywhere is the worst case for lane overflow; 2.5 chunks plus an odd tail crosses every boundary.
        byte[] data = new byte[64 * 16384 * 5 / 2 + 37];
        data.AsSpan().Fill(0xFF);
        Assert.Equal(ReferenceChecksum(data), InternetChecksum.Finish(InternetChecksum.Add(0, data, vector256, vector128)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Copying_and_summing_in_one_pass_copies_every_byte_and_matches_the_reference_loop(bool vector256)
    {
        var random = new Random(864);
        byte[] data = new byte[2000];
        random.NextBytes(data);
        byte[] copy = new byte[2001];
        for (int length = 0; length <= data.Length; length++)
        {
            copy.AsSpan().Fill(0xA5);
            ReadOnlySpan<byte> slice = data.AsSpan(0, length);
            // A 20-byte header summed first, as PacketWriter does: the payload's words start at an even offset.
            ulong header = InternetChecksum.Add(0, data.AsSpan(0, 20));
            ulong sum = InternetChecksum.CopyAndAdd(header, slice, copy, vector256);
            Assert.Equal(ReferenceChecksum([.. data.AsSpan(0, 20), .. slice]), InternetChecksum.Finish(sum));
            Assert.True(slice.SequenceEqual(copy.AsSpan(0, length)), $"length {length}: the copy differs");
            Assert.Equal(0xA5, copy[length]); // nothing past the payload is written
        }
    }

    [Fact]
    public void Copying_and_summing_all_ones_past_a_vector_chunk_does_not_overflow_the_lanes()
    {
        byte[] data = new byte[64 * 16384 * 5 / 2 + 37];
        data.AsSpan().Fill(0xFF);
        byte[] copy = new byte[data.Length];
        Assert.Equal(ReferenceChecksum(data), InternetChecksum.Finish(InternetChecksum.CopyAndAdd(0, data, copy, useVector256: true)));
        Assert.True(data.AsSpan().SequenceEqual(copy));
    }

    [Fact]
    public void Summing_in_even_pieces_equals_summing_at_once()
    {
        var random = new Random(5);
        byte[] data = new byte[1500];
        random.NextBytes(data);
        ulong pieces = InternetChecksum.Add(InternetChecksum.Add(InternetChecksum.Add(0, data.AsSpan(0, 20)), data.AsSpan(20, 1000)), data.AsSpan(1020));
        Assert.Equal(InternetChecksum.Compute(data), InternetChecksum.Finish(pieces));
    }

    [Fact]
    public void Rfc_1071_worked_example_sums_to_ddf2()
    {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 have one's complement sum 0xddf2, so the checksum is ~0xddf2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(unchecked((ushort)~0xddf2), InternetChecksum.Compute(data));
    }

    [Fact]
    public void Pseudo_header_equals_checksumming_its_twelve_bytes()
    {
        var source = new Ipv4Address(10, 77, 0, 1);
        var destination = new Ipv4Address(10, 77, 0, 2);
        byte[] pseudo = new byte[12];
        source.Write(pseudo);
        destination.Write(pseudo.AsSpan(4));
        pseudo[9] = 6;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), 1480);
        Assert.Equal(ReferenceChecksum(pseudo), InternetChecksum.Finish(InternetChecksum.PseudoHeader(source, destination, 6, 1480)));
    }

    [Fact]
    public void A_message_with_its_checksum_in_place_finishes_to_zero()
    {
        var random = new Random(7);
        byte[] data = new byte[101];
        random.NextBytes(data);
        data[10] = data[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(10), InternetChecksum.Compute(data));
        Assert.Equal(0, InternetChecksum.Compute(data));
    }
}
