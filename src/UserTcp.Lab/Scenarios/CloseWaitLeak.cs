using System.Globalization;
using System.Text;
using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// close-wait-leak (seed 003): a server application that never closes its sockets. Clients connect one after another and
/// close at once; on the leaking side every connection stays in CLOSE-WAIT, while the clients' FIN-WAIT-2 expire after
/// their timeout. Role active: the clients are UserTcp's and the kernel leaks; passive: the clients are the kernel's and
/// UserTcp leaks.
/// </summary>
public sealed class CloseWaitLeak : LabScenario
{
    private const ushort Port = 5019;
    private const int Clients = 6;
    private static readonly TimeSpan Spacing = TimeSpan.FromMilliseconds(300);

    public override string Name => "close-wait-leak";

    public override string Question =>
        "A server never closes the connections its clients close. What piles up where, and what goes away on its own? (Counts over time.)";

    public override SeedClaim Seed => new("seed 003",
        "If the application never calls close, CLOSE_WAIT connections accumulate on the server; the clients correspondingly show FIN_WAIT_2. "
        + "(It also asks what a framework could do about CLOSE_WAIT.)");

    public override async Task RunAsync(LabSession s)
    {
        bool kernelLeaks = s.Role == LabRole.UserTcpActive;
        for (int i = 0; i < Clients; i++)
        {
            LabConnection c = await s.OpenAsync(Port, kernelConnects: !kernelLeaks).ConfigureAwait(false);
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

    /// <summary>How many connections each side held in each state at instants 0.5 s apart (from the record's state spans).</summary>
    public static IReadOnlyList<(TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp)> Counts(LabRecord r, TimeSpan step)
    {
        var rows = new List<(TimeSpan, IReadOnlyDictionary<string, int>, IReadOnlyDictionary<string, int>)>();
        for (TimeSpan at = TimeSpan.Zero; at <= r.End; at += step)
        {
            var kernel = new Dictionary<string, int>();
            var userTcp = new Dictionary<string, int>();
            foreach (FourTuple c in r.Connections)
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
        var counts = Counts(r, TimeSpan.FromMilliseconds(500));
        int Leaker((TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp) row, string state) =>
            (kernelLeaks ? row.Kernel : row.UserTcp).GetValueOrDefault(state);
        int Client((TimeSpan At, IReadOnlyDictionary<string, int> Kernel, IReadOnlyDictionary<string, int> UserTcp) row, string state) =>
            (kernelLeaks ? row.UserTcp : row.Kernel).GetValueOrDefault(state);
        int peakFinWait2 = counts.Max(row => Client(row, "FIN-WAIT-2"));
        var last = counts[^1];
        v.Expect($"CLOSE-WAIT piles up on {leakerName}: all {Clients} connections, and they stay", Leaker(last, "CLOSE-WAIT") == Clients,
            $"at the end: {Leaker(last, "CLOSE-WAIT")} in CLOSE-WAIT");
        v.Expect($"{clientName}'s FIN-WAIT-2 rise, then each expires on its own", peakFinWait2 >= 2 && Client(last, "FIN-WAIT-2") == 0,
            $"at most {peakFinWait2} in FIN-WAIT-2 at once; {Client(last, "FIN-WAIT-2")} at the end");
        v.Expect($"{leakerName} sends no FIN on any of them", r.Connections.All(c => r.From(c, kernelLeaks ? LabSide.Kernel : LabSide.UserTcp, IsFin).Count == 0),
            "no FIN from the leaking side");
        var table = new StringBuilder();
        foreach (var row in counts.Where((_, i) => i % 2 == 0))
        {
            table.Append(CultureInfo.InvariantCulture, $"{row.At.TotalSeconds:0.0} s: {Leaker(row, "CLOSE-WAIT")} CLOSE-WAIT / {Client(row, "FIN-WAIT-2")} FIN-WAIT-2; ");
        }
        string observed = $"{Clients} clients on {clientName}'s side connected {LabRecord.Milliseconds(Spacing)} apart and closed at once; {leakerName}'s "
            + $"application never closed. Counts over time ({leakerName} CLOSE-WAIT / {clientName} FIN-WAIT-2): {table.ToString().TrimEnd(' ', ';')}. "
            + $"CLOSE-WAIT only grows: nothing in TCP ends it, only the application's close. The clients' orphaned FIN-WAIT-2 each expired "
            + $"after {(kernelLeaks ? "UserTcp's FinWait2Timeout" : "the kernel's tcp_fin_timeout")}; after that, the leaking side's connections have no peer "
            + "at all, and a later write from them would draw a RST. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.Agrees,
            "As the seed says: CLOSE-WAIT accumulates on the side whose application does not close, with FIN-WAIT-2 on the other side — "
            + "but only for a while: the orphaned FIN-WAIT-2 time out, and the CLOSE-WAIT are left on their own.");
    }
}
