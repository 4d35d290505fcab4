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

    private static byte[] Write(TcpOptions options)
    {
        byte[] written = new byte[TcpOptions.MaxLength];
        Assert.True(options.TryWrite(written, out int length));
        Assert.Equal(options.EncodedLength, length);
        return written[..length];
    }

    private static TcpFastOpenCookie Cookie(string hex)
    {
        Assert.True(TcpFastOpenCookie.TryCreate(Convert.FromHexString(hex), out TcpFastOpenCookie cookie));
        return cookie;
    }

    [Theory]
    // Linux 6.18 SYNs and SYN-ACKs from the upstream fastopen scripts, re-emitted byte for byte (tcp_options_write).
    [InlineData("020405b4 0101 0402 010303 08 220 20101", "mss,nop,nop,sackOK,nop,wscale 8,FO,nop,nop (a cookie request)")]
    [InlineData("020405b4 0101 0402 010303 08 220a 1234abcd5678dcba 0101", "FO of 8 bytes, nop,nop")]
    [InlineData("020405b4 0101 0402 010303 08 2208 112233445566", "FO of 6 bytes needs no padding")]
    [InlineData("020405b4 0101 0402 010303 08 2212 01234567aabbccdd0123456701234567 0101", "FO of 16 bytes")]
    [InlineData("020405b4 0101 0402 010303 08 fe04f989", "FOEXP, a request")]
    [InlineData("020405b4 0402 080a 00002710 00000001 010303 08 fe0cf989 00abaaabe8e954c2", "SYN-ACK with TS and FOEXP of 8")]
    [InlineData("020405b4 0402 080a 00002710 00000001 010303 08 220a 1313a2da994a0951 0101", "SYN-ACK with TS and FO of 8")]
    public void Fast_open_options_round_trip_in_linux_layout(string hex, string what)
    {
        byte[] expected = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        TcpOptions options = Parse(expected);
        Assert.NotEqual(TcpFastOpenKind.None, options.FastOpen);
        Assert.True(Write(options).AsSpan().SequenceEqual(expected), what);
    }

    [Fact]
    public void Fast_open_cookie_is_read_with_its_kind()
    {
        TcpOptions standard = Parse(0x22, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x01);
        Assert.Equal(TcpFastOpenKind.Rfc7413, standard.FastOpen);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, standard.FastOpenCookie.Value.ToArray());
        TcpOptions experimental = Parse(0xfe, 0x08, 0xf9, 0x89, 0xab, 0xcd, 0x12, 0x34);
        Assert.Equal(TcpFastOpenKind.Experimental, experimental.FastOpen);
        Assert.Equal("abcd1234", experimental.FastOpenCookie.ToString());
        TcpOptions request = Parse(0x22, 0x02, 0x01, 0x01);
        Assert.Equal(TcpFastOpenKind.Rfc7413, request.FastOpen);
        Assert.True(request.FastOpenCookie.IsRequest);
    }

    [Fact]
    public void Experimental_option_with_another_magic_is_not_fast_open()
    {
        TcpOptions options = Parse(0xfe, 0x08, 0x12, 0x34, 0xab, 0xcd, 0x12, 0x34);
        Assert.Equal(TcpFastOpenKind.None, options.FastOpen);
        Assert.True(options.IsEmpty);
    }

    [Theory]
    [InlineData(new byte[] { 0x22, 0x05, 1, 2, 3 }, "odd length")]
    [InlineData(new byte[] { 0x22, 0x04, 1, 2 }, "2 bytes, below the minimum of 4")]
    [InlineData(new byte[] { 0x22, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 }, "18 bytes, above 16")]
    [InlineData(new byte[] { 0xfe, 0x05, 0xf9, 0x89, 1 }, "experimental, odd")]
    public void Fast_open_cookie_of_a_length_linux_refuses_is_dropped_but_the_segment_kept(byte[] raw, string why)
    {
        Assert.Equal(WireError.None, TcpOptions.TryParse(raw, out TcpOptions options));
        Assert.True(options.FastOpen == TcpFastOpenKind.None, why);
    }

    [Fact]
    public void An_invalid_even_cookie_after_a_valid_one_removes_it_and_an_odd_one_leaves_it_as_linux_does()
    {
        Assert.Equal(TcpFastOpenKind.None, Parse(0x22, 0x06, 1, 2, 3, 4, 0x22, 0x04, 1, 2).FastOpen);
        Assert.Equal("01020304", Parse(0x22, 0x06, 1, 2, 3, 4, 0x22, 0x05, 1, 2, 3, 0x01).FastOpenCookie.ToString());
    }

    [Fact]
    public void Cookie_lengths_are_zero_or_even_from_4_to_16()
    {
        for (int length = 0; length <= 20; length++)
        {
            bool valid = length == 0 || (length is >= 4 and <= 16 && length % 2 == 0);
            Assert.Equal(valid, TcpFastOpenCookie.TryCreate(new byte[length], out TcpFastOpenCookie cookie));
            Assert.Equal(valid ? length : 0, cookie.Length);
        }
    }

    [Fact]
    public void Options_differing_only_in_the_cookie_are_not_equal()
    {
        var a = new TcpOptions { MaxSegmentSize = 1460 };
        a.SetFastOpen(TcpFastOpenKind.Rfc7413, Cookie("01020304"));
        TcpOptions b = a;
        b.SetFastOpen(TcpFastOpenKind.Rfc7413, Cookie("01020305"));
        TcpOptions c = a;
        c.SetFastOpen(TcpFastOpenKind.Experimental, Cookie("01020304"));
        Assert.NotEqual(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(a, Parse(Write(a)));
        Assert.False(a.IsEmpty);
    }

    [Fact]
    public void The_longest_experimental_cookie_fits_beside_every_syn_option()
    {
        var options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1, 0), WindowScale = 7 };
        options.SetFastOpen(TcpFastOpenKind.Experimental, Cookie("00112233445566778899aabbccddeeff"));
        Assert.Equal(TcpOptions.MaxLength, options.EncodedLength);
        Assert.Equal(options, Parse(Write(options)));
    }
}
