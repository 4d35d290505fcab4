using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>The one ordinal the scenarios' sentences use (reordering's "the fourth (seq …)", zero-window's "the third probe").</summary>
public sealed class ScenarioKitOrdinalTests
{
    [Theory]
    [InlineData(1, "first")]
    [InlineData(3, "third")]
    [InlineData(4, "fourth")]
    [InlineData(10, "tenth")]
    [InlineData(11, "11th")]
    [InlineData(12, "12th")]
    [InlineData(13, "13th")]
    [InlineData(21, "21st")]
    [InlineData(22, "22nd")]
    [InlineData(23, "23rd")]
    [InlineData(111, "111th")]
    [InlineData(0, "0th")]
    public void Small_ordinals_are_words_and_larger_ones_take_their_english_suffix(int n, string expected) =>
        Assert.Equal(expected, ScenarioKit.Ordinal(n));
}
