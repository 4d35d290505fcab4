using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Services;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Issue 8 against the kernel over TUN: a connection between the kernel's curl and `usertcp serve` negotiates what Linux
/// negotiates with Linux (SACK, timestamps, window scaling, as the kernel's own ss -ti reports it), and a 100 MB transfer
/// on the clean link arrives intact and loses nothing: every segment either side sent again reached the other a second
/// time (a timer that fired while the ACK waited unread, on a loaded machine) or repaired a drop the kernel or the
/// interface counted. A resend reached the kernel a second time when its ACK reports it (D-SACK, RFC 2883), or when the
/// kernel counted a duplicate whose D-SACK it never sent: Linux keeps one D-SACK until an ACK carries it (tcp_dsack_set
/// overwrites it), and defers ACKs while it processes a socket's backlog (tcp_backlog_ack_defer), so of duplicates that
/// arrive while curl holds its socket only the last is reported. (That no probe fires before TcpConfig.MinProbeTimeout is
/// SackTests' job, on a manual clock.)
/// </summary>
public sealed partial class EngineV2LiveTests : IDisposable
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-engine-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("curl", "ss", "nstat", "sha256sum")]
    public void Curl_downloads_100_MB_from_serve_with_sack_timestamps_and_window_scale_and_neither_side_loses_a_segment()
    {
        const long Size = 100L * 1024 * 1024;
        using NetNamespace ns = NetNamespace.Create();
        string pcap = Path.Combine(_directory, "serve.pcapng");
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "http", "--time-wait", "0.5", "--log-level", "warning", "--pcap", pcap);
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);

        // curl in the background, the body into sha256sum; the kernel's view of its socket sampled every 20 ms while it runs,
        // the last sample kept (ss -ti; with -o too, since iproute2 6.1 leaves "ts sack" out of -ti alone on this kernel).
        // The namespace is new, so nstat's absolute counters and the interface's are this run's.
        string size = Size.ToString(CultureInfo.InvariantCulture);
        string status = Path.Combine(_directory, "curl.status"), sum = Path.Combine(_directory, "body.sha256");
        PeerProgram run = ns.Run(Timeout, "bash", "-c", $$"""
            curl -sS --fail --noproxy '*' --max-time 80 -w '%{stderr}%{http_code} %{size_download}\n' http://{{Addresses.Stack}}/bytes/{{size}} 2>{{status}} | sha256sum >{{sum}} &
            pid=$!
            last=''
            while kill -0 $pid 2>/dev/null; do
                s=$(ss -tinoH state established dst {{Addresses.Stack}}:80 | tr '\n' ' ')
                [ -n "$s" ] && last=$s
                sleep 0.02
            done
            wait $pid || exit 1
            echo "curl: $(tail -n 1 {{status}})"
            echo "sha256: $(cut -d ' ' -f 1 {{sum}})"
            echo "ss: $last"
            nstat -az | tail -n +2
            echo "link: $(ip -j -s link show dev {{Addresses.Interface}})"
            echo "qdisc: $(tc -s qdisc show dev {{Addresses.Interface}} | tr '\n' ' ')"
            """);
        Assert.True(run.ExitCode == 0, run.Transcript);
        Assert.Contains($"curl: 200 {size}", run.OutputLines);
        Assert.Contains($"sha256: {GeneratedBody.Sha256Hex(Size)}", run.OutputLines); // every byte as served, none lost or changed

        string ss = Assert.Single(run.OutputLines, l => l.StartsWith("ss: ", StringComparison.Ordinal));
        string[] fields = ss.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(fields.Contains("sack"), ss);                                  // SACK negotiated (RFC 2018)
        Assert.Contains("ts", fields);                                             // timestamps (RFC 7323 §3)
        Assert.Contains(fields, f => f.StartsWith("wscale:", StringComparison.Ordinal)); // window scaling (RFC 7323 §2)

        // Drops anyone counted: the kernel's (nstat's *Drop*, *Discard*, *Prune*, *Errs* counters) and the interface's, both ways.
        Dictionary<string, long> nstat = run.OutputLines.Select(l => NstatLine().Match(l)).Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.True(nstat.ContainsKey("TcpRetransSegs") && nstat.ContainsKey("TcpExtTCPDSACKOldSent"), run.Transcript);
        using JsonDocument link = JsonDocument.Parse(Assert.Single(run.OutputLines, l => l.StartsWith("link: ", StringComparison.Ordinal))["link: ".Length..]);
        JsonElement stats = link.RootElement[0].GetProperty("stats64");
        long linkDrops = stats.GetProperty("rx").GetProperty("dropped").GetInt64() + stats.GetProperty("tx").GetProperty("dropped").GetInt64();
        long drops = linkDrops + nstat.Where(c => DropCounter().IsMatch(c.Key)).Sum(c => c.Value);
        string counted = $"drops counted: {linkDrops} by {Addresses.Interface}, "
            + string.Join(", ", nstat.Where(c => DropCounter().IsMatch(c.Key) && c.Value > 0).Select(c => $"{c.Key} {c.Value}"));

        Assert.True(serve.Terminate(Timeout), serve.Transcript); // a clean stop closes the capture
        IReadOnlyList<CapturedSegment> segments = Pcap.ReadTcp(pcap);
        bool FromStack(CapturedSegment s) => s.Source == Addresses.StackAddress && s.SourcePort == 80;

        // UserTcp's data that repeats sequence space already sent, and the kernel's D-SACK blocks (RFC 2883 §4: the first block,
        // below the ACK or inside the second), which say what of it arrived twice.
        uint? highest = null;
        long sent = 0;
        var dsacked = new List<SackBlock>();
        var repeated = new List<CapturedSegment>();
        foreach (CapturedSegment s in segments)
        {
            if (!FromStack(s))
            {
                // Above the ACK, RFC 2883 wants the block holding it second; Linux sends its most recent first, so any later
                // block holding the first makes it a D-SACK (ordinary SACK blocks never overlap).
                if (s.Sack.Count > 0 && (unchecked((int)(s.Sack[0].Right.Value - s.Acknowledgment)) <= 0
                    || s.Sack.Skip(1).Any(b => Within(s.Sack[0].Left.Value, s.Sack[0].Right.Value, b))))
                {
                    dsacked.Add(s.Sack[0]);
                }
                continue;
            }
            if (s.PayloadLength == 0) continue;
            uint end = unchecked(s.Sequence + (uint)s.PayloadLength);
            if (highest is uint h && unchecked((int)(end - h)) <= 0) repeated.Add(s);
            else highest = end;
            sent += s.PayloadLength;
        }
        Assert.True(sent >= Size, $"the capture holds {sent} bytes of data from UserTcp");
        CapturedSegment[] lost = [.. repeated.Where(r => !dsacked.Any(d => Within(r.Sequence, unchecked(r.Sequence + (uint)r.PayloadLength), d)))];
        // Duplicates the kernel noticed (each tcp_dsack_set counts one) against the D-SACKs its ACKs carried: the difference
        // is how many a later duplicate replaced before an ACK went out. More D-SACKs seen than noticed would mean we misread SACK blocks.
        long noticed = nstat.GetValueOrDefault("TcpExtTCPDSACKOldSent") + nstat.GetValueOrDefault("TcpExtTCPDSACKOfoSent");
        Assert.True(dsacked.Count <= noticed, $"{dsacked.Count} D-SACKs in the capture, but the kernel counted {noticed} duplicates it would report");
        long unreported = noticed - dsacked.Count;
        Assert.True(lost.Length <= drops + unreported,
            $"{repeated.Count} segments resent by UserTcp, {lost.Length} of them not reported twice by the kernel (D-SACK), the first: {lost.FirstOrDefault()}; "
            + $"{unreported} duplicates the kernel counted without reporting; {counted}"
            + (lost.Length > 0 ? "\n" + Around(segments, lost[0], FromStack) + "\n" + Why(nstat, dsacked.Count, run.OutputLines, serve.Transcript) : ""));

        // The kernel's: each retransmission reached UserTcp a second time (UserTcp answered late), or repaired a counted drop.
        var seen = new HashSet<(uint, bool)>();
        int kernelRepeats = segments.Count(s => !FromStack(s) && (s.PayloadLength > 0 || (s.Flags & (TcpFlags.Syn | TcpFlags.Fin)) != 0)
            && !seen.Add((s.Sequence, s.Flags.HasFlag(TcpFlags.Fin))));
        Assert.True(nstat["TcpRetransSegs"] <= kernelRepeats + drops,
            $"the kernel retransmitted {nstat["TcpRetransSegs"]} segments, UserTcp's capture holds {kernelRepeats} of its segments twice; {counted}");
    }

    // What a resend no D-SACK accounted for met: its first sending, the kernel's last ACK before it and its next three,
    // each with its capture time and timestamps (a resend's TSval older than TS.Recent fails Linux's PAWS test, RFC 7323 §5).
    private static string Around(IReadOnlyList<CapturedSegment> segments, CapturedSegment resent, Func<CapturedSegment, bool> fromStack)
    {
        static string Stamps(CapturedSegment s) => string.Create(CultureInfo.InvariantCulture, $" at {s.At.TotalMilliseconds:F3} ms win {s.Window}")
            + (s.Timestamp is TcpTimestamp ts ? $" TS val {ts.Value} ecr {ts.EchoReply}" : "");
        static string Ack(CapturedSegment s) => $"{s} ack {s.Acknowledgment}{Stamps(s)}" + string.Concat(s.Sack.Select(b => $" sack {b.Left.Value}-{b.Right.Value}"));
        CapturedSegment? original = segments.FirstOrDefault(s => fromStack(s) && s.Index < resent.Index && s.PayloadLength > 0
            && unchecked((int)(resent.Sequence - s.Sequence)) >= 0 && unchecked((int)(s.Sequence + (uint)s.PayloadLength - resent.Sequence)) > 0);
        CapturedSegment? before = segments.LastOrDefault(s => !fromStack(s) && s.Index < resent.Index);
        IEnumerable<string> after = segments.Where(s => !fromStack(s) && s.Index > resent.Index).Take(3).Select(s => "  after: " + Ack(s));
        return string.Join('\n', new[]
        {
            $"  first sent: {(original is null ? "not in the capture" : original + Stamps(original))}",
            $"  resent: {resent}{Stamps(resent)}",
            "  before: " + (before is null ? "none" : Ack(before)),
        }.Concat(after));
    }

    // What the kernel says it did with duplicates (nstat), against the D-SACKs the capture holds; the qdisc's drops; serve's warnings.
    private static string Why(Dictionary<string, long> nstat, int dsacksCaptured, IReadOnlyList<string> output, string serveTranscript)
    {
        string[] names = ["TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent", "TcpExtDelayedACKLost", "TcpExtPAWSEstab", "TcpExtTCPACKSkippedPAWS",
            "TcpExtTCPACKSkippedSeq", "TcpExtTCPOFOMerge", "TcpExtTCPBacklogCoalesce"];
        string counters = string.Join(", ", names.Select(n => $"{n} {(nstat.TryGetValue(n, out long v) ? v : 0)}"));
        string qdisc = output.FirstOrDefault(l => l.StartsWith("qdisc: ", StringComparison.Ordinal)) ?? "qdisc: (not read)";
        string warnings = string.Join(" | ", serveTranscript.Split('\n').Where(l => l.Contains("warn", StringComparison.OrdinalIgnoreCase)).Take(5));
        return $"  kernel: {counters}; D-SACKs in the capture: {dsacksCaptured}\n  {qdisc}\n  serve's warnings: {(warnings.Length == 0 ? "none" : warnings)}";
    }

    // Whether [left, right) lies inside the block, in sequence space.
    private static bool Within(uint left, uint right, SackBlock block) =>
        unchecked((int)(left - block.Left.Value)) >= 0 && unchecked((int)(block.Right.Value - right)) >= 0;

    // "TcpRetransSegs                  0                  0.0", as nstat -az prints each counter.
    [GeneratedRegex(@"^(\w+)\s+(\d+)\s+[\d.]+$")]
    private static partial Regex NstatLine();

    [GeneratedRegex("Drop|Discard|Prune|Errs|Errors")]
    private static partial Regex DropCounter();
}
