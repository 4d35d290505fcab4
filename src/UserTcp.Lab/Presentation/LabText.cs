using System.Globalization;
using UserTcp.Engine;

namespace UserTcp.Lab;

/// <summary>A run as the terminal shows it: the question and settings, a ladder per connection, the verdict.</summary>
public static class LabText
{
    public static IEnumerable<string> Describe(LabResult result)
    {
        LabRecord r = result.Record;
        LabVerdict v = result.Verdict;
        yield return $"━━ {result.Scenario.Name} — {result.Scenario.DescribeRole(result.Role)}";
        foreach (string line in Wrap($"question: {v.Question}", "  ")) yield return line;
        yield return $"  faults:  {(r.Faults.Count == 0 ? "none" : string.Join("; ", r.Faults))}";
        yield return $"  kernel:  {KernelSettings(r)}";
        yield return $"  UserTcp: {Settings(r.UserTcpConfig)}";
        foreach (FourTuple connection in r.Connections)
        {
            yield return "";
            foreach (string line in LabLadder.Draw(r, connection)) yield return "  " + line;
        }
        yield return "";
        foreach (string line in Wrap($"observed: {v.Observed}", "  ")) yield return line;
        foreach (string line in v.KernelSchedule) yield return $"  kernel retransmitted:  {line}";
        foreach (string line in v.UserTcpSchedule) yield return $"  UserTcp retransmitted: {line}";
        if (r.KernelCounters.Count > 0)
        {
            foreach (string line in Wrap($"kernel counted: {Gained(r.KernelCounters)}", "  ")) yield return line;
        }
        if (r.UserTcpCounters.Count > 0)
        {
            foreach (string line in Wrap($"UserTcp counted: {Gained(r.UserTcpCounters)}", "  ")) yield return line;
        }
        if (v.Seed is SeedClaim seed)
        {
            foreach (string line in Wrap($"{seed.Source} claims: {seed.Claim}", "  ")) yield return line;
            foreach (string line in Wrap($"the run {Agreement(v.Agreement)}: {v.AgreementWhy}", "  ")) yield return line;
        }
        foreach (Expectation e in v.Expectations)
        {
            yield return $"  {(e.Passed ? "ok  " : "FAIL")}  {e.What} — {e.Observed}";
        }
        yield return string.Create(CultureInfo.InvariantCulture,
            $"  {result.Scenario.Name} ({result.Role.Key()}): {(v.Passed ? "PASS" : "FAIL")} in {result.Duration.TotalSeconds:0.0} s; capture {result.CapturePath}");
    }

    /// <summary>
    /// What one side's Tcp and TcpExt counters gained during the run, by name as nstat names them
    /// ("TcpExtTCPDSACKUndo +2, TcpRetransSegs +2"): its own account of its retransmissions, undos and timeouts.
    /// </summary>
    public static string Gained(IReadOnlyDictionary<string, long> counters) =>
        string.Join(", ", counters.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:+0;-0}")));

    /// <summary>"agrees", "partly agrees", "disagrees", for sentences.</summary>
    public static string Agreement(SeedAgreement agreement) => agreement switch
    {
        SeedAgreement.Agrees => "agrees",
        SeedAgreement.Partly => "partly agrees",
        SeedAgreement.Disagrees => "disagrees",
        SeedAgreement.Inconclusive => "is inconclusive",
        _ => "has no seed claim to check",
    };

    /// <summary>The kernel side's settings: its sockets' congestion control (TCP_CONGESTION), then the namespace's sysctls as written.</summary>
    public static string KernelSettings(LabRecord r) =>
        string.Join(" ", r.KernelSettings.Select(kv => $"{kv.Key}={kv.Value}").Prepend($"TCP_CONGESTION={r.KernelCongestionControl.LinuxName()} (every socket)"));

    /// <summary>
    /// UserTcp's congestion control and the timers that matter to the lab, in one line; first "Linux rules" when every
    /// switch of <see cref="TcpConfig.WithLinuxRules"/> is Linux's (<c>--linux-rules</c>).
    /// </summary>
    public static string Settings(TcpConfig c) => string.Create(CultureInfo.InvariantCulture,
        $"{(FollowsLinuxRules(c) ? "Linux rules (every switch: TcpConfig.WithLinuxRules), " : "")}congestion control {c.CongestionControl.LinuxName()}, TIME-WAIT {c.TimeWait.TotalSeconds:0.###} s, orphaned FIN-WAIT-2 {c.FinWait2Timeout.TotalSeconds:0.###} s, RTO {c.InitialRto.TotalSeconds:0.###} s initial / {c.MinRto.TotalMilliseconds:0} ms min, "
        + $"RTO formula {c.RtoFormula.Name()}, CUBIC arithmetic {c.CubicArithmetic.Name()}, RACK rules {c.RackRules.Name()}, "
        + $"retries: SYN {c.SynRetries}, SYN-ACK {c.SynAckRetries}, data {c.DataRetries}, orphan {c.OrphanRetries}");

    /// <summary>Every switch of <see cref="TcpConfig.WithLinuxRules"/> is Linux's in <paramref name="c"/> (<c>--linux-rules</c>).</summary>
    public static bool FollowsLinuxRules(TcpConfig c) => c == c.WithLinuxRules();

    /// <summary>Wraps text at about 118 columns, continuing lines with the indent and two more spaces.</summary>
    public static IEnumerable<string> Wrap(string text, string indent, int width = 118)
    {
        var line = new System.Text.StringBuilder(indent);
        bool first = true;
        foreach (string word in text.Split(' '))
        {
            if (line.Length + word.Length + 1 > width && line.Length > indent.Length + 2)
            {
                yield return line.ToString().TrimEnd();
                line.Clear().Append(indent).Append("  ");
                first = false;
            }
            if (line.Length > (first ? indent.Length : indent.Length + 2)) line.Append(' ');
            line.Append(word);
        }
        if (line.ToString().Trim().Length > 0) yield return line.ToString().TrimEnd();
    }
}
