namespace UserTcp.Engine.Tests.FastOpen;

public class FastOpenConfigTests
{
    [Fact]
    public void Default_is_client_only_as_linux()
    {
        Assert.Equal(FastOpenFlags.Client, new TcpConfig().FastOpen);
        Assert.Null(new TcpConfig().FastOpenKey);
    }

    [Fact]
    public void Flags_carry_linux_bit_values()
    {
        Assert.Equal(0x1, (int)FastOpenFlags.Client);
        Assert.Equal(0x2, (int)FastOpenFlags.Server);
        Assert.Equal(0x4, (int)FastOpenFlags.ClientNoCookie);
        Assert.Equal(0x200, (int)FastOpenFlags.ServerCookieNotRequired);
        Assert.Equal(0x400, (int)FastOpenFlags.ServerWithoutSocketOption);
    }

    [Fact]
    public void Key_is_read_as_linux_stores_it_each_word_little_endian()
    {
        FastOpenKey key = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d5");
        Assert.Equal(Convert.FromHexString("a1a1a1a1b2b2b2b2c3c3c3c3d5d4d4d4"), key.Primary.ToArray());
        Assert.False(key.HasBackup);
        Assert.True(key.Backup.IsEmpty);
        Assert.Equal("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d5", key.ToString());
    }

    [Fact]
    public void Key_with_backup_round_trips_and_short_words_are_zero_filled()
    {
        FastOpenKey key = FastOpenKey.Parse("1-2-3-4,00000005-6-7-8");
        Assert.True(key.HasBackup);
        Assert.Equal("00000001-00000002-00000003-00000004,00000005-00000006-00000007-00000008", key.ToString());
        Assert.Equal(key, FastOpenKey.Parse(key.ToString()));
        Assert.NotEqual(key, FastOpenKey.Parse("1-2-3-4"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a1a1a1a1-b2b2b2b2-c3c3c3c3")]
    [InlineData("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4-e5")]
    [InlineData("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4x")]
    [InlineData("123456789-0-0-0")]
    [InlineData("1-2-3-4,5-6-7-8,9-a-b-c")]
    [InlineData("1--3-4")]
    public void Malformed_keys_are_refused(string text)
    {
        Assert.False(FastOpenKey.TryParse(text, out _));
        Assert.Throws<FormatException>(() => FastOpenKey.Parse(text));
    }

    [Fact]
    public void Keys_are_sixteen_bytes()
    {
        Assert.Throws<ArgumentException>(() => new FastOpenKey(new byte[15]));
        Assert.Throws<ArgumentException>(() => new FastOpenKey(new byte[16], new byte[8]));
        Assert.NotEqual(FastOpenKey.CreateRandom(), FastOpenKey.CreateRandom());
    }
}
