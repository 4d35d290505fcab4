using UserTcp.Lab.Scenarios;

namespace UserTcp.Lab;

/// <summary>Every scenario, by the names `usertcp lab` takes, in the order `lab list` and `lab run-all` use.</summary>
public static class LabCatalog
{
    public static IReadOnlyList<LabScenario> All { get; } =
    [
        new FinNoReply(),
        new FinAckOnly(),
        new LastAckLost(),
        new LastAckNewSyn(),
        new FinLost(),
        new SimultaneousClose(),
        new FinWithAck(),
        new HalfClose(),
        new HalfOpen(),
        new CloseWaitLeak(),
        new SynReceived(),
        new SynLost(),
        new SynAckLost(),
        new RtoBackoff(),
        new FastRetransmit(),
        new LostRetransmission(),
        new MtuBlackHole(),
        new TimeWaitReuse(),
        new TimeWaitPort(),
        new CloseUnreadRst(),
        new DelayedFinAck(),
        new SpuriousRto(),
        new Reordering(),
        new TailLoss(),
        new AckLoss(),
        new ZeroWindow(),
        new Ecn(),
        new FastOpen(),
        new DeadPeer(),
        new LocalQueueFull(),
        new TimeWaitAssassination(),
        new FinWait1ZeroWindow(),
        new LingerAbort(),
    ];

    /// <summary>The scenario of that name, or null.</summary>
    public static LabScenario? Find(string name) => All.FirstOrDefault(s => s.Name == name);
}
