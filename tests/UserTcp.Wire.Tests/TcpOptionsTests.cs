namespace UserTcp.Wire.Tests;

public class TcpOptionsTests
{
    private static TcpOptions Parse(params byte[] raw)
    {
        Assert.Equal(WireError.None, TcpOptions.TryParse(raw, out TcpOptions options));
        return options;
    }

    [Fact]
    public void Linux_syn_options_parse_to_values()
    {
        TcpOptions options = Parse(0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 7, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07);
        Assert.Equal((ushort)1460, options.MaxSegmentSize);
        Assert.True(options.SackPermitted);
        Assert.Equal(new TcpTimestamp(7, 0), options.Timestamp);
        Assert.Equal((byte)7, options.WindowScale);
        Assert.True(options.SackBlocks.IsEmpty);
    }

    [Fact]
    public void Sack_blocks_are_read_in_wire_order()
    {
        TcpOptions options = Parse(0x01, 0x01, 0x05, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10);
        Assert.Equal(
            [new SackBlock(new SeqNumber(10), new SeqNumber(20)), new SackBlock(new SeqNumber(0xFFFF_FFF0), new SeqNumber(0x10))],
            options.SackBlocks.ToArray());
    }

    [Fact]
    public void Unknown_options_are_skipped_by_their_length()
    {
        // Kind 30 (MPTCP) with 4 data bytes, then kind 254 (experimental) with 2, then MSS.
        TcpOptions options = Parse(30, 6, 1, 2, 3, 4, 254, 4, 0xf9, 0x89, 0x02, 0x04, 0x05, 0x78);
        Assert.Equal((ushort)1400, options.MaxSegmentSize);
    }

    [Fact]
    public void End_of_list_stops_parsing_and_padding_after_it_is_ignored()
    {
        TcpOptions options = Parse(0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03);
        Assert.Equal((ushort)1460, options.MaxSegmentSize);
        Assert.Null(options.WindowScale);
    }

    [Fact]
    public void A_repeated_option_keeps_the_last_value_as_linux_does()
    {
        Assert.Equal((ushort)536, Parse(0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x02, 0x18).MaxSegmentSize);
    }

    [Theory]
    [InlineData(new byte[] { 0x02 }, "kind with no length byte")]
    [InlineData(new byte[] { 0x02, 0x04, 0x05 }, "length past the end")]
    [InlineData(new byte[] { 0x1e, 0x01 }, "length below 2")]
    [InlineData(new byte[] { 0x1e, 0x00 }, "length zero would loop forever")]
    [InlineData(new byte[] { 0x02, 0x03, 0x05 }, "MSS must be 4")]
    [InlineData(new byte[] { 0x03, 0x04, 0x07, 0x00 }, "window scale must be 3")]
    [InlineData(new byte[] { 0x04, 0x03, 0x00 }, "SACK-permitted must be 2")]
    [InlineData(new byte[] { 0x08, 0x06, 0, 0, 0, 0 }, "timestamps must be 10")]
    [InlineData(new byte[] { 0x05, 0x02 }, "SACK with no block")]
    [InlineData(new byte[] { 0x05, 0x06, 0, 0, 0, 1 }, "SACK with half a block")]
    [InlineData(new byte[] { 0x01, 0x01, 0x05, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2, 0 }, "SACK block length not a multiple of 8")]
    public void Malformed_lengths_are_rejected(byte[] raw, string why)
    {
        Assert.True(TcpOptions.TryParse(raw, out _) == WireError.MalformedOption, why);
    }

    [Fact]
    public void Reader_yields_options_in_wire_order()
    {
        byte[] raw = [0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2, 30, 3, 9];
        var kinds = new List<TcpOptionKind>();
        var reader = new TcpOptionReader(raw);
        while (reader.MoveNext()) kinds.Add(reader.Current.Kind);
        Assert.Equal(WireError.None, reader.Error);
        Assert.Equal([TcpOptionKind.NoOperation, TcpOptionKind.NoOperation, TcpOptionKind.Timestamps, (TcpOptionKind)30], kinds);
    }

    public static TheoryData<string, string> LinuxLayouts => new()
    {
        // Layouts Linux's tcp_options_write produces for each combination.
        { "mss+sack+ts+ws", "020405b4 0402080a 00000007 00000000 01030307" },
        { "mss+ws", "020405b4 01030307" },
        { "mss+sack", "020405b4 01010402" },
        { "mss+sack+ws", "020405b4 01010402 01030307" },
        { "ts", "0101080a 00000007 00000009" },
        { "ts+sack1", "0101080a 00000007 00000009 0101050a 00000010 00000020" },
        { "sack2", "01010512 00000010 00000020 00000030 00000040" },
    };

    [Theory]
    [MemberData(nameof(LinuxLayouts))]
    public void Writing_uses_linux_layout_and_parses_back(string what, string hex)
    {
        byte[] expected = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        TcpOptions options = Parse(expected);
        byte[] written = new byte[TcpOptions.MaxLength];
        Assert.True(options.TryWrite(written, out int length), what);
        Assert.Equal(options.EncodedLength, length);
        Assert.Equal(expected, written[..length]);
        Assert.Equal(options, Parse(written[..length]));
    }

    [Fact]
    public void Sack_blocks_that_do_not_fit_beside_timestamps_are_left_out()
    {
        var options = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) };
        for (uint i = 0; i < 4; i++) Assert.True(options.AddSackBlock(new SackBlock(new SeqNumber(i * 100), new SeqNumber(i * 100 + 50))));
        Assert.False(options.AddSackBlock(default));
        Assert.Equal(TcpOptions.MaxLength, options.EncodedLength); // 12 for TS + 4 + 3 blocks of 8
        byte[] written = new byte[TcpOptions.MaxLength];
        Assert.True(options.TryWrite(written, out _));
        TcpOptions back = Parse(written);
        Assert.Equal(options.SackBlocks[..3].ToArray(), back.SackBlocks.ToArray());
    }

    [Fact]
    public void Writing_into_a_short_buffer_fails_without_writing()
    {
        var options = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7 };
        byte[] small = new byte[7];
        Assert.False(options.TryWrite(small, out int written));
        Assert.Equal(0, written);
        Assert.All(small, b => Assert.Equal(0, b));
    }

    [Fact]
    public void No_options_write_nothing()
    {
        Assert.True(new TcpOptions().IsEmpty);
        Assert.Equal(0, new TcpOptions().EncodedLength);
    }
}
