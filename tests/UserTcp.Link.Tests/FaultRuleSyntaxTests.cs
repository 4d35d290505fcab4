using UserTcp.Engine;

namespace UserTcp.Link.Tests;

public class FaultRuleSyntaxTests
{
    [Theory]
    [InlineData("drop from-kernel flags=FIN nth=1", "drop from-kernel flags=FIN nth=1")]
    [InlineData("drop to-kernel after=FIN", "drop to-kernel after=FIN")]
    [InlineData("drop from-kernel after=out:FIN port=5000", "drop from-kernel after=to-kernel:FIN port=5000")]
    [InlineData("DROP out flags==ack EMPTY state=time_wait", "drop to-kernel flags==ACK empty state=TIME-WAIT")]
    [InlineData("drop p=5%", "drop p=5%")]
    [InlineData("drop p=0.25 in", "drop from-kernel p=25%")]
    [InlineData("delay=200ms to-kernel data", "delay=200ms to-kernel data")]
    [InlineData("delay=1.5s", "delay=1500ms")]
    [InlineData("reorder from-kernel", "reorder=100ms from-kernel")]
    [InlineData("reorder=2s count=3", "reorder=2s nth=1..3")]
    [InlineData("duplicate nth=2..", "duplicate nth=2..")]
    [InlineData("corrupt time=1s..3s flags=SYN+ACK", "corrupt flags=SYN+ACK time=1s..3s")]
    [InlineData("drop time=..500ms state=FIN-WAIT-2,fin-wait-1", "drop state=FIN-WAIT-1,FIN-WAIT-2 time=..500ms")]
    [InlineData("drop nth=1 REOPENS from-kernel", "drop from-kernel reopens nth=1")]
    [InlineData("delay=10ms window=0 empty in", "delay=10ms from-kernel empty window=0")]
    [InlineData("drop again=2 nth=3 data out", "drop to-kernel data nth=3 again=2")]
    [InlineData("drop MTU=1200 to-kernel", "drop to-kernel mtu=1200")]
    public void A_rule_reads_back_as_its_normal_text(string text, string normal)
    {
        FaultRule rule = FaultRule.Parse(text);
        Assert.Equal(normal, rule.ToText());
        Assert.Equal(normal, rule.Description);
        Assert.Equal(normal, FaultRule.Parse(normal).ToText());
    }

    [Fact]
    public void The_parts_land_in_typed_fields()
    {
        FaultRule rule = FaultRule.Parse("delay=250ms from-kernel flags=FIN+ACK data state=LAST-ACK nth=2..4 time=1s..2s after=SYN p=50%");
        Assert.Equal(FaultAction.Delayed, rule.Action);
        Assert.Equal(TimeSpan.FromMilliseconds(250), rule.Delay);
        Assert.Equal(PacketDirection.Inbound, rule.Direction);
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, rule.Flags);
        Assert.False(rule.ExactFlags);
        Assert.Equal(PayloadFilter.Data, rule.Payload);
        Assert.Equal([TcpState.LastAck], rule.States!);
        Assert.Equal((2L, (long?)4L), (rule.NthFirst, rule.NthLast));
        Assert.Equal((TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)), (rule.From!.Value, rule.Until!.Value));
        Assert.Equal(TcpFlags.Syn, rule.After);
        Assert.Equal(0.5, rule.Probability);
        Assert.Equal(WindowFilter.Any, rule.Window);
        Assert.Equal(WindowFilter.Zero, FaultRule.Parse("drop window=0").Window);
        Assert.Equal(WindowFilter.Reopens, FaultRule.Parse("drop reopens").Window);
    }

    [Theory]
    [InlineData("drop window=5", "'window=5' is not a window selector: write window=0 (advertises a zero window) or reopens (the window update after one)")]
    [InlineData("drop reopens=yes", "'reopens=yes': reopens takes no value")]
    [InlineData("drop window=0 reopens", "'reopens' repeats the window already given: one window per rule")]
    public void A_window_mistake_says_what_would_do(string text, string message) =>
        Assert.Equal(message, Assert.Throws<FaultRuleException>(() => FaultRule.Parse(text)).Message);

    [Theory]
    [InlineData("", "")]
    [InlineData("drpo from-kernel", "drpo")]
    [InlineData("drop frm-kernel flags=FIN", "frm-kernel")]
    [InlineData("drop flags=FIN+AKC", "flags=FIN+AKC")]
    [InlineData("drop state=FIN-WAIT-3", "state=FIN-WAIT-3")]
    [InlineData("drop nth=0", "nth=0")]
    [InlineData("drop nth=3..2", "nth=3..2")]
    [InlineData("drop p=150%", "p=150%")]
    [InlineData("drop p=2", "p=2")]
    [InlineData("delay", "delay")]
    [InlineData("delay=5", "delay=5")]
    [InlineData("drop=3", "drop=3")]
    [InlineData("drop time=5s..1s", "time=5s..1s")]
    [InlineData("drop time=3s", "time=3s")]
    [InlineData("drop to-kernel from-kernel", "from-kernel")]
    [InlineData("drop flags", "flags")]
    [InlineData("drop count=2 nth=1", "nth=1")]
    [InlineData("drop after=up:FIN", "after=up:FIN")]
    [InlineData("drop port=70000", "port=70000")]
    [InlineData("drop window=5", "window=5")]
    [InlineData("drop window", "window")]
    [InlineData("drop reopens=1", "reopens=1")]
    [InlineData("drop data=3", "data=3")]
    [InlineData("drop window=0 reopens", "reopens")]
    [InlineData("drop again=0", "again=0")]
    [InlineData("drop again", "again")]
    [InlineData("drop again=1001", "again=1001")]
    [InlineData("drop mtu=67", "mtu=67")]
    [InlineData("drop mtu=65536", "mtu=65536")]
    [InlineData("drop mtu", "mtu")]
    public void A_bad_rule_names_the_word_at_fault(string text, string token)
    {
        FaultRuleException error = Assert.Throws<FaultRuleException>(() => FaultRule.Parse(text));
        Assert.Equal(token, error.Token);
        if (token.Length > 0) Assert.Contains($"'{token}'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void An_unknown_selector_lists_the_ones_that_exist()
    {
        FaultRuleException error = Assert.Throws<FaultRuleException>(() => FaultRule.Parse("drop sideways"));
        Assert.Equal("'sideways' is not a selector: use to-kernel, from-kernel, flags=, flags==, data, empty, window=0, reopens, state=, nth=, count=, again=, time=, after=, port=, ecn=, mtu=, p=", error.Message);
    }
}
