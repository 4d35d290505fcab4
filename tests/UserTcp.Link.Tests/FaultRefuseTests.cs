using UserTcp.Engine;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

/// <summary>
/// <c>refuse</c>: the stack's own device queue refuses what UserTcp sends (a full local queue), asked before the packet
/// is queued (<see cref="IPacketDevice.RefusesTransmit"/>), so TCP hears of it at once, as Linux's does of NET_XMIT_DROP.
/// </summary>
public class FaultRefuseTests
{
    [Fact]
    public void Refuse_reads_as_a_rule_to_the_kernel_only()
    {
        FaultRule rule = FaultRule.Parse("refuse data nth=2..3");
        Assert.Equal(FaultAction.Refused, rule.Action);
        Assert.Equal(PacketDirection.Outbound, rule.Direction);
        Assert.Equal("refuse to-kernel data nth=2..3", rule.ToText());
        Assert.Equal(rule.ToText(), FaultRule.Parse(rule.ToText()).ToText());
        FaultRuleException inbound = Assert.Throws<FaultRuleException>(() => FaultRule.Parse("refuse from-kernel"));
        Assert.Contains("to-kernel", inbound.Message, StringComparison.Ordinal);
        Assert.Throws<FaultRuleException>(() => FaultRule.Parse("refuse=1s"));
    }

    [Fact]
    public void A_refuse_rule_refuses_the_packets_it_picks_before_they_are_queued_and_logs_them()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var tun = new FaultInjectingDeviceTests.FakeTun(time);
        var tap = new FaultInjectingDeviceTests.RecordingTap();
        var faults = new List<FaultEvent>();
        using var device = new FaultInjectingDevice(tun, [FaultRule.Parse("refuse data nth=2..3")], 1, time, tap: tap) { OnFault = faults.Add };

        Assert.False(device.RefusesTransmit(Data(1)));
        Assert.False(device.RefusesTransmit(Tcp(TcpFlags.Ack, seq: 11))); // not data: not picked, not counted
        Assert.True(device.RefusesTransmit(Data(11)));
        Assert.True(device.RefusesTransmit(Data(11)));
        Assert.False(device.RefusesTransmit(Data(11)));

        Assert.Equal(2, device.Counters.Refused);
        Assert.Equal(2, device.Rules[0].Applied);
        Assert.Empty(tun.ToKernel); // asking writes nothing
        Assert.Equal(2, faults.Count);
        Assert.All(faults, f => Assert.Equal(FaultAction.Refused, f.Action));
        Assert.All(tap.Records, r => Assert.Equal(FaultAction.Refused, r.Fault!.Value.Action));
        Assert.StartsWith("refused by rule 'refuse to-kernel data nth=2..3': UserTcp's own device queue refused it", faults[0].Detail, StringComparison.Ordinal);

        device.Write(Data(11)); // what the queue took goes on; a refuse rule does not count writes
        Assert.Single(tun.ToKernel);
        Assert.Equal(2, device.Counters.Refused);
    }

    [Fact]
    public void Without_a_refuse_rule_the_inner_device_decides()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var device = new FaultInjectingDevice(new FaultInjectingDeviceTests.FakeTun(time), [FaultRule.Parse("drop to-kernel")], 1, time);
        Assert.False(device.RefusesTransmit(Data(1)));
        Assert.Equal(0, device.Rules[0].Applied); // the drop rule saw nothing: it acts on writes
    }
}
