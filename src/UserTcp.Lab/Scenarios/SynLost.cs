using System.Globalization;
using System.Net;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// syn-lost: every SYN is lost, in both directions at once — the kernel connecting to UserTcp and UserTcp connecting to
/// the kernel — so both stacks' SYN retransmission schedules show side by side until each gives up.
/// </summary>
public sealed class SynLost : LabScenario
{
    private const ushort ToUserTcp = 5010, ToKernel = 5011;

    public override string Name => "syn-lost";

    public override string Question =>
        "Every SYN is lost. When does each stack retransmit its SYN, and when does it give up? (Linux ≥ 6.5 retries at a linear 1 s "
        + "before it backs off: tcp_syn_linear_timeouts.)";

    public override IReadOnlyList<LabRole> Roles => [LabRole.Both];

    public override IReadOnlyList<string> Faults(LabRole role) => [$"drop from-kernel flags=SYN port={ToUserTcp}", $"drop to-kernel flags=SYN port={ToKernel}"];

    // tcp_syn_retries = 3 gives the kernel a 15 s budget: long enough to see the linear phase and two doublings.
    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(base.KernelSettings(role, full)) { ["tcp_syn_retries"] = full ? "6" : "3" };

    public override async Task RunAsync(LabSession s)
    {
        using var listener = s.Stack.Listen(ToUserTcp);
        using KernelSocket server = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, ToKernel));
        KernelSocket client = s.Track(s.NewKernelSocket());
        s.Mark(LabSide.Kernel, "connect()");
        Task kernel = Attempt(s, LabSide.Kernel, () => client.ConnectAsync(LabSession.UserTcpEndPoint(ToUserTcp), TimeSpan.FromMinutes(4)));
        s.Mark(LabSide.UserTcp, "connect()");
        Task userTcp = Attempt(s, LabSide.UserTcp, () => s.Stack.ConnectAsync(LabSession.KernelEndpoint(ToKernel), s.Token));
        await Task.WhenAll(kernel, userTcp).ConfigureAwait(false);
    }

    private static async Task Attempt(LabSession s, LabSide side, Func<Task> connect)
    {
        try
        {
            await connect().ConfigureAwait(false);
            s.Mark(side, "connect() succeeded");
        }
        catch (SocketException e)
        {
            s.Mark(side, $"connect() failed: {e.SocketErrorCode}");
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && !s.Token.IsCancellationRequested))
        {
            s.Mark(side, "connect() gave up (time limit)");
        }
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        FourTuple kernelConn = r.Connections.FirstOrDefault(c => c.Local.Port == ToUserTcp), userTcpConn = r.Connections.FirstOrDefault(c => c.Remote.Port == ToKernel);
        Transmissions? kernelSyn = r.SentWith(kernelConn, LabSide.Kernel, TcpFlags.Syn), userTcpSyn = r.SentWith(userTcpConn, LabSide.UserTcp, TcpFlags.Syn);
        LabMark? kernelEnd = r.Marks.LastOrDefault(m => m.Side == LabSide.Kernel), userTcpEnd = r.Marks.LastOrDefault(m => m.Side == LabSide.UserTcp);
        int linear = r.KernelSettings.TryGetValue("tcp_syn_linear_timeouts", out string? l) ? int.Parse(l, CultureInfo.InvariantCulture) : 4;
        int kernelRetries = r.KernelSettings.TryGetValue("tcp_syn_retries", out string? kr) ? int.Parse(kr, CultureInfo.InvariantCulture) : 6;
        IReadOnlyList<TimeSpan> gaps = kernelSyn?.Intervals ?? [];
        // The SYN and its first `linear` retransmissions each wait the initial 1 s; only then does the wait double.
        // (The kernel's gaps are its own send instants; UserTcp's include its scheduling delay: the sum is the steadier measure.)
        bool linearFirst = gaps.Count > linear + 1 && gaps.Take(linear + 1).All(g => Math.Abs(g.TotalSeconds - 1) < 0.35)
            && Math.Abs(gaps.Take(linear + 1).Sum(g => g.TotalSeconds) - (linear + 1)) < 0.4 && gaps[linear + 1].TotalSeconds >= 1.6;
        // Linux gives up by time, not by count: the budget is what tcp_syn_retries doublings from 1 s would take, (2^(n+1) - 1) s.
        TimeSpan budget = TimeSpan.FromSeconds((2 << kernelRetries) - 1);
        TimeSpan kernelGaveUp = kernelEnd is null || kernelSyn is null ? TimeSpan.Zero : kernelEnd.At - kernelSyn.Times[0];
        v.Expect($"the kernel's SYN and its first {linear} retransmissions each wait 1 s (tcp_syn_linear_timeouts = {linear}), then the wait doubles", linearFirst,
            $"gaps {(kernelSyn is null ? "-" : Intervals(kernelSyn))}");
        v.Expect($"the kernel gives up at the first timeout past the time {kernelRetries} doublings from 1 s would take ({LabRecord.Seconds(budget)}, tcp_syn_retries = {kernelRetries}), so the linear phase buys extra retries",
            kernelEnd?.What.Contains("TimedOut", StringComparison.Ordinal) == true && kernelGaveUp >= budget - TimeSpan.FromSeconds(0.5) && kernelSyn!.Retransmissions > kernelRetries,
            $"{kernelEnd?.What ?? "-"} after {LabRecord.Seconds(kernelGaveUp)}, {kernelSyn?.Retransmissions ?? 0} retransmissions");
        IReadOnlyList<TimeSpan> rtos = [.. r.UserTcpRetransmissions(userTcpConn).Select(e => e.Deadline - e.Time)];
        v.Expect($"UserTcp retries its SYN {r.UserTcpConfig.SynRetries} times (SynRetries), doubling from {LabRecord.Seconds(r.UserTcpConfig.InitialRto)}",
            userTcpSyn?.Retransmissions == r.UserTcpConfig.SynRetries && userTcpSyn.Intervals.Count >= 1
            && Math.Abs(userTcpSyn.Intervals[0].TotalSeconds - r.UserTcpConfig.InitialRto.TotalSeconds) < 0.25 && (rtos.Count < 2 || Doubles(rtos, r.UserTcpConfig.MaxRto)),
            $"{userTcpSyn?.Describe() ?? "no SYN"}; RTOs armed {List(rtos)}");
        v.Expect("UserTcp's connect times out", userTcpEnd?.What.Contains("TimedOut", StringComparison.Ordinal) == true, userTcpEnd?.What ?? "-");
        string Gave(LabMark? end, Transmissions? syn) => end is null || syn is null ? "" : $", gave up {LabRecord.Seconds(end.At - syn.Times[0])} after the first SYN";
        string observed = $"The kernel's SYN: {kernelSyn?.Describe() ?? "none"} (gaps {(kernelSyn is null ? "-" : Intervals(kernelSyn))}){Gave(kernelEnd, kernelSyn)} "
            + $"— the SYN and {linear} retransmissions 1 s apart, then doubling, {kernelSyn?.Retransmissions ?? 0} retransmissions in all: with "
            + $"tcp_syn_retries = {kernelRetries} Linux gives up at the first timeout after the time {kernelRetries} doublings from 1 s would take "
            + $"({LabRecord.Seconds(budget)}), not after {kernelRetries} retransmissions, so the linear phase adds retries; connect() reported "
            + $"{kernelEnd?.What ?? "nothing"}. UserTcp's SYN: {userTcpSyn?.Describe() ?? "none"} (gaps {(userTcpSyn is null ? "-" : Intervals(userTcpSyn))})"
            + $"{Gave(userTcpEnd, userTcpSyn)} — RFC 6298 doubling from its initial RTO, {r.UserTcpConfig.SynRetries} retries; its connect reported "
            + $"{userTcpEnd?.What ?? "nothing"}. The textbook 1, 2, 4, 8 s schedule is UserTcp's, not the kernel's. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, kernelConn, LabSide.Kernel), Schedule(r, userTcpConn, LabSide.UserTcp));
    }
}
