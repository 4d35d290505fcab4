using System.Security.Cryptography;

namespace UserTcp.Services.Tests;

public sealed class GeneratedBodyTests
{
    [Fact]
    public void The_first_word_is_splitmix64_of_0_little_endian()
    {
        byte[] first = new byte[8];
        GeneratedBody.Fill(0, first);

        Assert.Equal(0xE220A8397B1DCDAFUL, GeneratedBody.Word(0));
        Assert.Equal(Convert.FromHexString("afcd1d7b39a820e2"), first);
    }

    [Fact]
    public void The_sha256_matches_an_independent_python_computation()
    {
        // python3: b"".join(struct.pack("<Q", splitmix64(k)) for k in range((n + 7) // 8))[:n], n = 1000003
        Assert.Equal("217ab4263eba835c1b1d99fe0d2ba23fee32e0068d246151f6414dfd1efa3804", GeneratedBody.Sha256Hex(1_000_003));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", GeneratedBody.Sha256Hex(0));
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(3, 17)]
    [InlineData(8, 8)]
    [InlineData(65_535, 4_000)]
    [InlineData(1L << 33, 33)]
    public void Any_slice_equals_the_same_bytes_of_the_whole(long offset, int length)
    {
        byte[] slice = new byte[length];
        GeneratedBody.Fill(offset, slice);

        for (int i = 0; i < length; i++) Assert.Equal(GeneratedBody.ByteAt(offset + i), slice[i]);
    }

    [Fact]
    public void Pieces_hash_to_the_same_digest_as_the_helper()
    {
        byte[] whole = new byte[300_001];
        GeneratedBody.Fill(0, whole.AsSpan(0, 1_001));
        GeneratedBody.Fill(1_001, whole.AsSpan(1_001));

        Assert.Equal(SHA256.HashData(whole), GeneratedBody.Sha256(whole.Length));
    }

    [Fact]
    public void No_block_repeats_at_a_shift_of_256_or_65536_bytes()
    {
        byte[] body = new byte[1 << 18];
        GeneratedBody.Fill(0, body);

        Assert.False(body.AsSpan(0, 4096).SequenceEqual(body.AsSpan(256, 4096)));
        Assert.False(body.AsSpan(0, 4096).SequenceEqual(body.AsSpan(65_536, 4096)));
    }
}
