using System.Globalization;
using System.Net;
using System.Text;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>
/// The HTML report of lab runs: one page per scenario (each of its roles a section: settings, verdict, graphs, ladder,
/// timeline, a link to the pcapng) and an index page listing every run with its result and duration. Graphs are SVG
/// files next to the pages (with PNG twins); pages need no script and no network.
/// </summary>
public static class LabReport
{
    /// <summary>Writes the report for <paramref name="results"/> into <paramref name="directory"/>; returns the index page's path.</summary>
    public static string Write(IReadOnlyList<LabResult> results, string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (IGrouping<string, LabResult> scenario in results.GroupBy(r => r.Scenario.Name))
        {
            File.WriteAllText(Path.Combine(directory, $"{scenario.Key}.html"), Page(scenario.ToList(), directory));
        }
        string index = Path.Combine(directory, "index.html");
        File.WriteAllText(index, Index(results));
        return index;
    }

    private static string Index(IReadOnlyList<LabResult> results)
    {
        var html = Head("UserTcp lab");
        int passed = results.Count(r => r.Verdict.Passed);
        html.Append(CultureInfo.InvariantCulture, $"<h1>UserTcp lab</h1><p class=summary>{passed} of {results.Count} runs passed, in {results.Sum(r => r.Duration.TotalSeconds):0.0} s. ")
            .Append(CultureInfo.InvariantCulture, $"Congestion control (both sides): {E(CongestionControlsUsed(results))}. ")
            .Append(CultureInfo.InvariantCulture, $"UserTcp's RTO formula: {E(RtoFormulasUsed(results))}. ")
            .Append(results.All(r => LabText.FollowsLinuxRules(r.Record.UserTcpConfig)) ? "UserTcp ran every Linux rule (--linux-rules). " : "")
            .Append(CultureInfo.InvariantCulture, $"Written {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.</p>")
            .Append("<table><tr><th>scenario</th><th>role</th><th>result</th><th>duration</th><th>seed</th><th>question</th></tr>");
        foreach (LabResult r in results)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td><a href=\"{E(r.Scenario.Name)}.html#{E(r.Role.Key())}\">{E(r.Scenario.Name)}</a></td><td>{E(r.Role.Key())}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td class={(r.Verdict.Passed ? "pass" : "fail")}>{(r.Verdict.Passed ? "PASS" : "FAIL")}</td><td>{r.Duration.TotalSeconds:0.0} s</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{E(r.Verdict.Seed is null ? "—" : LabText.Agreement(r.Verdict.Agreement))}</td><td>{E(r.Verdict.Question)}</td></tr>");
        }
        return html.Append("</table></body></html>").ToString();
    }

    /// <summary>"cubic", or which runs ran which when they differ (the kernel's sockets and UserTcp's, named as Linux names them).</summary>
    private static string CongestionControlsUsed(IReadOnlyList<LabResult> results)
    {
        var used = results.GroupBy(r => (Kernel: r.Record.KernelCongestionControl.LinuxName(), UserTcp: r.Record.UserTcpConfig.CongestionControl.LinuxName())).ToList();
        static string Name((string Kernel, string UserTcp) k) => k.Kernel == k.UserTcp ? k.Kernel : $"the kernel {k.Kernel}, UserTcp {k.UserTcp}";
        return used.Count == 1
            ? Name(used[0].Key)
            : string.Join("; ", used.Select(u => $"{Name(u.Key)} ({string.Join(", ", u.Select(r => r.Key))})"));
    }

    /// <summary>"rfc6298", or each formula with the runs that used it ("linux (rto-backoff.active), rfc6298 (…)") when they differ.</summary>
    private static string RtoFormulasUsed(IReadOnlyList<LabResult> results)
    {
        var formulas = results.GroupBy(r => r.Record.UserTcpConfig.RtoFormula).ToList();
        return formulas.Count == 1
            ? formulas[0].Key.Name()
            : string.Join(", ", formulas.Select(f => $"{f.Key.Name()} ({string.Join(", ", f.Select(r => r.Key))})"));
    }

    private static string Page(List<LabResult> runs, string directory)
    {
        LabScenario scenario = runs[0].Scenario;
        var html = Head($"{scenario.Name} — UserTcp lab");
        html.Append(CultureInfo.InvariantCulture, $"<p><a href=\"index.html\">← all scenarios</a></p><h1>{E(scenario.Name)}</h1><p class=question>{E(scenario.Question)}</p>");
        if (scenario.Seed is SeedClaim seed) html.Append(CultureInfo.InvariantCulture, $"<blockquote><b>{E(seed.Source)}</b> claims: {E(seed.Claim)}</blockquote>");
        foreach (LabResult run in runs) Section(html, run, directory);
        return html.Append("</body></html>").ToString();
    }

    private static void Section(StringBuilder html, LabResult run, string directory)
    {
        LabRecord r = run.Record;
        LabVerdict v = run.Verdict;
        html.Append(CultureInfo.InvariantCulture, $"<h2 id=\"{run.Role.Key()}\">{E(run.Scenario.DescribeRole(run.Role))} — <span class={(v.Passed ? "pass" : "fail")}>{(v.Passed ? "PASS" : "FAIL")}</span></h2>")
            .Append(CultureInfo.InvariantCulture, $"<p class=meta>{run.Duration.TotalSeconds:0.0} s · capture <a href=\"{E(Path.GetFileName(run.CapturePath))}\">{E(Path.GetFileName(run.CapturePath))}</a> (pcapng; faults are packet comments) · ")
            .Append(CultureInfo.InvariantCulture, $"faults: <code>{E(r.Faults.Count == 0 ? "none" : string.Join("; ", r.Faults))}</code><br>")
            .Append(CultureInfo.InvariantCulture, $"kernel: <code>{E(LabText.KernelSettings(r))}</code><br>UserTcp: {E(LabText.Settings(r.UserTcpConfig))}</p>");

        html.Append("<h3>Verdict</h3>").Append(CultureInfo.InvariantCulture, $"<p class=observed>{E(v.Observed)}</p>");
        if (v.KernelSchedule.Count > 0) html.Append("<p><b>The kernel's retransmissions</b></p><ul>").AppendJoin("", v.KernelSchedule.Select(l => $"<li>{E(l)}</li>")).Append("</ul>");
        if (v.UserTcpSchedule.Count > 0) html.Append("<p><b>UserTcp's retransmissions</b></p><ul>").AppendJoin("", v.UserTcpSchedule.Select(l => $"<li>{E(l)}</li>")).Append("</ul>");
        if (r.KernelCounters.Count > 0)
        {
            html.Append("<p><b>The kernel counted</b> (what its Tcp and TcpExt counters gained during the run, as nstat names them): <code>")
                .Append(E(LabText.Gained(r.KernelCounters))).Append("</code></p>");
        }
        if (r.UserTcpCounters.Count > 0)
        {
            html.Append("<p><b>UserTcp counted</b> (its counters of the same names): <code>")
                .Append(E(LabText.Gained(r.UserTcpCounters))).Append("</code></p>");
        }
        if (v.Seed is SeedClaim seed) html.Append(CultureInfo.InvariantCulture, $"<p><b>Against {E(seed.Source)}: the run {E(LabText.Agreement(v.Agreement))}.</b> {E(v.AgreementWhy)}</p>");
        html.Append("<table class=expect><tr><th></th><th>expected</th><th>observed</th></tr>");
        foreach (Expectation e in v.Expectations)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td class={(e.Passed ? "pass" : "fail")}>{(e.Passed ? "ok" : "FAIL")}</td><td>{E(e.What)}</td><td>{E(e.Observed)}</td></tr>");
        }
        html.Append("</table>");

        IReadOnlyList<FourTuple> connections = r.Connections;
        if (connections.Count >= 3)
        {
            string counts = $"{run.Key}.counts";
            LabGraphs.Counts(r, Path.Combine(directory, counts));
            html.Append("<h3>Connections in each state over time</h3>").Append(Figure(counts));
        }
        foreach (FourTuple c in connections.Take(3))
        {
            string name = $"{run.Key}.{c.Local.Port}-{c.Remote.Port}";
            html.Append(CultureInfo.InvariantCulture, $"<h3>Connection kernel {E(c.Remote.ToString())} ↔ UserTcp {E(c.Local.ToString())}</h3>");
            LabGraphs.States(r, c, Path.Combine(directory, name + ".states"));
            int fromKernel = LabGraphs.TimeSequence(r, c, LabSide.Kernel, Path.Combine(directory, name + ".tsg-kernel"));
            int fromUserTcp = LabGraphs.TimeSequence(r, c, LabSide.UserTcp, Path.Combine(directory, name + ".tsg-usertcp"));
            html.Append(Figure(name + ".states"))
                .Append(CultureInfo.InvariantCulture, $"<div class=graph data-retransmissions=\"{fromKernel}\">").Append(Figure(name + ".tsg-kernel")).Append("</div>")
                .Append(CultureInfo.InvariantCulture, $"<div class=graph data-retransmissions=\"{fromUserTcp}\">").Append(Figure(name + ".tsg-usertcp")).Append("</div>");
            if (LabGraphs.Congestion(r, c, Path.Combine(directory, name + ".cwnd"))) html.Append(Figure(name + ".cwnd"));
            html
                .Append("<h4>Ladder</h4><pre class=ladder>").AppendJoin("\n", LabLadder.Draw(r, c).Select(E)).Append("</pre>")
                .Append("<h4>Timeline</h4>").Append(Timeline(r, c));
        }
        if (connections.Count > 3) html.Append(CultureInfo.InvariantCulture, $"<p>{connections.Count - 3} more connections: see the capture.</p>");
    }

    /// <summary>Every packet, state change and application action of one connection, in time order, with both sides' states.</summary>
    private static string Timeline(LabRecord r, FourTuple c)
    {
        IReadOnlyList<StateSpan> kernel = r.KernelStates(c), userTcp = r.UserTcpStates(c);
        SeqNumbering numbering = r.Numbering(c);
        (SeqNumber? kernelIsn, SeqNumber? userTcpIsn) = (numbering.KernelIsn, numbering.UserTcpIsn);
        (int Kernel, int UserTcp) shifts = r.WindowShifts(c);
        var rows = new List<(TimeSpan At, int Order, string Event, string Class)>();
        int order = 0;
        foreach (WirePacket p in r.PacketsOf(c))
        {
            string label = LabLadder.Label(p.Segment, p.ToKernel ? userTcpIsn : kernelIsn, p.ToKernel ? kernelIsn : userTcpIsn, fastOpen: LabLadder.FastOpenText(p)).Trim();
            string sack = p.Sack.Count > 0 ? " sack " + numbering.Sack(p) : "";
            string text = string.Create(CultureInfo.InvariantCulture,
                $"{(p.ToKernel ? "UserTcp → kernel" : "kernel → UserTcp")}  {label} len {p.Segment.PayloadLength} win {Window(p, shifts)}{sack}{(p.Ecn != EcnCodepoint.NotEct ? $" ecn {EcnField.Name(p.Ecn)}" : "")}");
            if (p.Fault is { } fault) text += $"  ⟵ {(fault.Action == UserTcp.Link.FaultAction.Dropped ? "✗ " : "")}{fault.Text}";
            if (p.LateRead is string late) text += $"  ({late})";
            rows.Add((p.At, order++, text, p.Dropped ? "drop" : p.Fault is not null ? "fault" : ""));
        }
        foreach (StateSpan s in kernel) rows.Add((s.At, order++, $"kernel: {s.State}", "state"));
        foreach (StateSpan s in userTcp) rows.Add((s.At, order++, $"UserTcp: {s.State}{(s.Why is null ? "" : $" ({s.Why})")}", "state"));
        foreach (LabMark m in r.Marks.Where(m => m.Connection == c)) rows.Add((m.At, order++, $"{(m.Side == LabSide.Kernel ? "kernel" : "UserTcp")} application: {m.What}", "app"));
        rows.Sort((a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Order.CompareTo(b.Order));
        var html = new StringBuilder("<table class=timeline><tr><th>time (s)</th><th>UserTcp</th><th>kernel</th><th>event</th></tr>");
        foreach (var row in rows)
        {
            html.Append(CultureInfo.InvariantCulture,
                $"<tr class=\"{row.Class}\"><td>{row.At.TotalSeconds:0.000000}</td><td>{E(ScenarioKit.StateAt(userTcp, row.At) ?? "")}</td><td>{E(ScenarioKit.StateAt(kernel, row.At) ?? "")}</td><td>{E(row.Event)}</td></tr>");
        }
        return html.Append("</table>").ToString();
    }

    // In bytes, as the ladder names it; "65536 (512 << 7)" shows the field and its sender's shift where scaling applies (RFC 7323 §2.3).
    private static string Window(WirePacket p, (int Kernel, int UserTcp) shifts)
    {
        long bytes = LabRecord.WindowBytes(p, shifts);
        int shift = p.ToKernel ? shifts.UserTcp : shifts.Kernel;
        return bytes == p.Segment.Window ? p.Segment.Window.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} ({p.Segment.Window} << {shift})");
    }

    private static string Figure(string name) =>
        $"<figure><img src=\"{E(name)}.svg\" alt=\"{E(name)}\"><figcaption><a href=\"{E(name)}.png\">PNG</a> · <a href=\"{E(name)}.svg\">SVG</a></figcaption></figure>";

    private static StringBuilder Head(string title) => new StringBuilder("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>")
        .Append(CultureInfo.InvariantCulture, $"<title>{E(title)}</title><style>")
        .Append("body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#111;padding:0 16px}")
        .Append("h1{font-size:24px}h2{font-size:19px;margin-top:36px;border-top:1px solid #ccc;padding-top:12px}h3{font-size:16px}")
        .Append("table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}")
        .Append(".pass{color:#17803d;font-weight:600}.fail{color:#c0392b;font-weight:600}")
        .Append("pre.ladder{font:12px/1.3 ui-monospace,monospace;background:#f7f7f7;padding:10px;overflow-x:auto}")
        .Append("table.timeline{font:12px ui-monospace,monospace}tr.drop td{background:#fdecea}tr.fault td{background:#fff6e0}tr.state td{color:#1f5fbf}tr.app td{color:#6d3b9a}")
        .Append("figure{margin:10px 0}img{max-width:100%;border:1px solid #eee}blockquote{background:#f4f4fa;margin:8px 0;padding:8px 12px}")
        .Append("code{font-size:12px}.meta{color:#444}</style></head><body>");

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
