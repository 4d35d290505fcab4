namespace UserTcp.Wire.Tests;

public class SeqNumberTests
{
    [Fact]
    public void Comparison_follows_signed_distance_across_the_wrap()
    {
        var nearTop = new SeqNumber(0xFFFF_FFF0);
        SeqNumber afterWrap = nearTop + 0x20;
        Assert.Equal(0x10u, afterWrap.Value);
        Assert.True(afterWrap > nearTop);
        Assert.True(nearTop < afterWrap);
        Assert.True(nearTop <= afterWrap && afterWrap >= nearTop);
        Assert.Equal(0x20, afterWrap - nearTop);
        Assert.Equal(-0x20, nearTop - afterWrap);
    }

    [Fact]
    public void Subtracting_an_offset_wraps_backwards()
    {
        Assert.Equal(0xFFFF_FFFFu, (new SeqNumber(0) - 1).Value);
        Assert.Equal(0xFFFF_FFFFu, (new SeqNumber(0) + -1).Value);
    }

    [Fact]
    public void Numbers_half_the_space_apart_are_ordered_by_their_signed_distance()
    {
        var a = new SeqNumber(0);
        Assert.True(a + int.MaxValue > a);
        Assert.True(a + int.MinValue < a); // exactly 2^31 apart reads as "before": the ambiguity RFC 1982 §3.2 leaves undefined
    }

    [Fact]
    public void Range_check_works_across_the_wrap()
    {
        var start = new SeqNumber(0xFFFF_FF00);
        Assert.True((start + 0x100).IsInRange(start, 0x200));
        Assert.True(start.IsInRange(start, 1));
        Assert.False((start + 0x200).IsInRange(start, 0x200));
        Assert.False((start - 1).IsInRange(start, 0x200));
        Assert.False(start.IsInRange(start, 0));
    }

    [Fact]
    public void Max_and_min_respect_the_wrap()
    {
        var before = new SeqNumber(uint.MaxValue);
        var after = new SeqNumber(5);
        Assert.Equal(after, SeqNumber.Max(before, after));
        Assert.Equal(before, SeqNumber.Min(before, after));
    }
}

public class Ipv4AddressTests
{
    [Theory]
    [InlineData("10.77.0.1", 0x0A4D0001u)]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    public void Dotted_quads_parse_and_print_back(string text, uint value)
    {
        Assert.True(Ipv4Address.TryParse(text, out var address));
        Assert.Equal(value, address.Value);
        Assert.Equal(text, address.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.77.0")]
    [InlineData("10.77.0.1.")]
    [InlineData("10.77.0.256")]
    [InlineData("10.77..1")]
    [InlineData("10.77.0.1/24")]
    [InlineData("a.b.c.d")]
    [InlineData("1000.1.1.1")]
    [InlineData(null)]
    public void Anything_but_four_decimal_octets_is_refused(string? text)
    {
        Assert.False(Ipv4Address.TryParse(text, out _));
    }
}
