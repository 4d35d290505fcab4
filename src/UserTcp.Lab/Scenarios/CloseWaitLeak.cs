using System.Globalization;
using System.Text;
using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// close-wait-leak (seed 003): a server application that never closes its sockets. Clients connect one after another and
/// close at once; on the leaking side every connection stays in CLOSE-WAIT, while the clients' FIN-WAIT-2 expire after
/// their timeout. Role active: the clients are UserTcp's and the kernel leaks; passive: the clients are the kernel's and
/// UserTcp leaks — half of them on a listener with the opt-in CLOSE-WAIT timeout (1 s), which closes those for the
/// application, and half without it, which pile up.
/// </summary>
public sealed class CloseWaitLeak : LabScenario
{
    private const ushort Port = 5019;
    // UserTcp's second listener, whose connections have the opt-in CLOSE-WAIT timeout (TcpConfig.CloseWaitTimeout).
    private const ushort GuardedPort = 5020;
    private static readonly TimeSpan GuardTimeout = TimeSpan.FromSeconds(1);
    // The timer may fire late on a busy machine (CI saw 1.19 s under load), never early; Early covers the two clocks
    // the record compares (the engine's events and the capture's timestamps).
    private static readonly (TimeSpan Early, TimeSpan Late) TimerSlack = (TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(500));
    private const int Clients = 6;
    private static readonly TimeSpan Spacing = TimeSpan.FromMilliseconds(300);

    public override string Name => "close-wait-leak";

    public override string Question =>
        "A server never closes the connections its clients close. What piles up where, and what goes away on its own (counts over time)? "
        + "And what can the framework do about it (UserTcp's opt-in CLOSE-WAIT timeout, off and on)?";

    public override SeedClaim Seed => new("seed 003",
        "If the application never calls close, CLOSE_WAIT connections accumulate on the server; the clients correspondingly show FIN_WAIT_2. "
        + "(It also asks what a framework could do about CLOSE_WAIT.)");

    public override async Task RunAsync(LabSession s)
    {
        bool kernelLeaks = s.Role == LabRole.UserTcpActive;
        var guarded = new UserTcp.Sockets.UserTcpConnectionOptions { Tcp = s.Stack.TcpConfig with { CloseWaitTimeout = GuardTimeout } };
        for (int i = 0; i < Clients; i++)
        {
            bool guard = !kernelLeaks && i % 2 == 1;
            LabConnection c = await s.OpenAsync(guard ? GuardedPort : Port, kernelConnects: !kernelLeaks, guard ? guarded : null).ConfigureAwait(false);
            if (kernelLeaks)
            {
                s.Mark(LabSide.UserTcp, "close()", c.Id);
                await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            }
            else
            {
                s.Mark(LabSide.Kernel, "close()", c.Id);
                c.Kernel.Close();
            }
            await s.Delay(Spacing).ConfigureAwait(false);
        }
        TimeSpan finWait2 = kernelLeaks ? s.Stack.TcpConfig.FinWait2Timeout : TimeSpan.FromSeconds(s.Full ? 60 : LabDefaults.ShortFinTimeoutSeconds);
        await s.Delay(finWait2 + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
    }

    /// <summary>How many connections (all, or those <paramref name="which"/> picks) each side held in each state at instants <paramref name="step"/> apart (from the record's state spans).</summary>
    public static IReadOnlyList<(TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp)> Counts(LabRecord r, TimeSpan step, Func<FourTuple, bool>? which = null)
    {
        var rows = new List<(TimeSpan, IReadOnlyDictionary<string, int>, IReadOnlyDictionary<string, int>)>();
        for (TimeSpan at = TimeSpan.Zero; at <= r.End; at += step)
        {
            var kernel = new Dictionary<string, int>();
            var userTcp = new Dictionary<string, int>();
            foreach (FourTuple c in r.Connections.Where(c => which is null || which(c)))
            {
                if (StateAt(r.KernelStates(c), at) is string k && k != "(gone)") kernel[k] = kernel.GetValueOrDefault(k) + 1;
                if (StateAt(r.UserTcpStates(c), at) is string u && u is not "CLOSED" and not "LISTEN") userTcp[u] = userTcp.GetValueOrDefault(u) + 1;
            }
            rows.Add((at, kernel, userTcp));
        }
        return rows;
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool kernelLeaks = r.Role == LabRole.UserTcpActive;
        string leakerName = kernelLeaks ? "the kernel" : "UserTcp", clientName = kernelLeaks ? "UserTcp" : "the kernel";
        int unguarded = kernelLeaks ? Clients : Clients / 2;
        // The leak's story is told by the connections nothing closes for the application: in the passive role, UserTcp's
        // CLOSE-WAIT timeout closes the others (their own story below), and their peers' FIN-WAIT-2 end on that FIN, not on a timer.
        var counts = Counts(r, TimeSpan.FromMilliseconds(500), c => kernelLeaks || c.Local.Port != GuardedPort);
        int Leaker((TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp) row, string state) =>
            (kernelLeaks ? row.Kernel : row.UserTcp).GetValueOrDefault(state);
        int Client((TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp) row, string state) =>
            (kernelLeaks ? row.UserTcp : row.Kernel).GetValueOrDefault(state);
        int peakFinWait2 = counts.Max(row => Client(row, "FIN-WAIT-2"));
        var last = counts[^1];
        v.Expect($"CLOSE-WAIT piles up on {leakerName}: all {unguarded} connections{(kernelLeaks ? "" : " without the CLOSE-WAIT timeout")}, and they stay",
            Leaker(last, "CLOSE-WAIT") == unguarded, $"at the end: {Leaker(last, "CLOSE-WAIT")} in CLOSE-WAIT");
        string guardedStory = "";
        if (!kernelLeaks)
        {
            FourTuple[] guardedConnections = [.. r.Connections.Where(c => c.Local.Port == GuardedPort)];
            var closedForIt = r.Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Cause == TcpCause.CloseWaitIdle).ToList();
            var waits = guardedConnections.Select(c => r.TimeIn(r.UserTcpStates(c), "CLOSE-WAIT") ?? TimeSpan.Zero).ToList();
            v.Expect($"with the CLOSE-WAIT timeout ({LabRecord.Seconds(GuardTimeout)}), UserTcp closes each of its {guardedConnections.Length} idle connections for the application",
                closedForIt.Count == guardedConnections.Length && guardedConnections.Length == Clients - unguarded
                && waits.All(w => w >= GuardTimeout - TimerSlack.Early && w <= GuardTimeout + TimerSlack.Late)
                && guardedConnections.All(c => r.UserTcpStates(c) is [.., { State: "CLOSED" }]),
                $"{closedForIt.Count} closed (cause: {TcpCause.CloseWaitIdle.Describe()}), CLOSE-WAIT lasting {string.Join(", ", waits.Select(LabRecord.Seconds))}");
            guardedStory = $" The {guardedConnections.Length} connections on the listener with UserTcp's opt-in CLOSE-WAIT timeout "
                + $"({LabRecord.Seconds(GuardTimeout)}) did not pile up: each sat in CLOSE-WAIT for {string.Join(", ", waits.Select(LabRecord.Seconds))}, "
                + "then UserTcp closed it for the application (a FIN, LAST-ACK, CLOSED; an event with its own cause and a warning in the log "
                + "saying the application may be leaking), and the kernel's client, still in FIN-WAIT-2 or already gone, answered "
                + "accordingly.";
        }
        v.Expect($"{clientName}'s FIN-WAIT-2{(kernelLeaks ? "" : " on those")} rise, then each expires on its own", peakFinWait2 >= 2 && Client(last, "FIN-WAIT-2") == 0,
            $"at most {peakFinWait2} in FIN-WAIT-2 at once; {Client(last, "FIN-WAIT-2")} at the end");
        v.Expect($"{leakerName} sends no FIN on any of them{(kernelLeaks ? "" : " left to the application")}",
            r.Connections.Where(c => c.Local.Port != GuardedPort).All(c => r.From(c, kernelLeaks ? LabSide.Kernel : LabSide.UserTcp, IsFin).Count == 0),
            "no FIN from the leaking side");
        var table = new StringBuilder();
        foreach (var row in counts.Where((_, i) => i % 2 == 0))
        {
            table.Append(CultureInfo.InvariantCulture, $"{row.At.TotalSeconds:0.0} s: {Leaker(row, "CLOSE-WAIT")} CLOSE-WAIT / {Client(row, "FIN-WAIT-2")} FIN-WAIT-2; ");
        }
        string observed = $"{Clients} clients on {clientName}'s side connected {LabRecord.Milliseconds(Spacing)} apart and closed at once; {leakerName}'s "
            + $"application never closed. Counts over time{(kernelLeaks ? "" : $" of the {unguarded} without UserTcp's CLOSE-WAIT timeout")} "
            + $"({leakerName} CLOSE-WAIT / {clientName} FIN-WAIT-2): {table.ToString().TrimEnd(' ', ';')}. "
            + $"CLOSE-WAIT only grows: nothing in TCP ends it, only the application's close. The clients' orphaned FIN-WAIT-2 each expired "
            + $"after {(kernelLeaks ? "UserTcp's FinWait2Timeout" : "the kernel's tcp_fin_timeout")}; after that, the leaking side's connections have no peer "
            + "at all, and a later write from them would draw a RST." + guardedStory + " " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.Agrees,
            "As the seed says: CLOSE-WAIT accumulates on the side whose application does not close, with FIN-WAIT-2 on the other side — "
            + "but only for a while: the orphaned FIN-WAIT-2 time out, and the CLOSE-WAIT are left on their own. To the seed's question of "
            + "what a framework can do: close a connection the application has left idle in CLOSE-WAIT (UserTcp's opt-in CloseWaitTimeout), "
            + "and say so loudly, since the real fix is in the application.");
    }
}
