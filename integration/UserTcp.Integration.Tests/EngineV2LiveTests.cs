using System.Globalization;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Issue 8 against the kernel over TUN: a connection between the kernel's curl and `usertcp serve` negotiates what Linux
/// negotiates with Linux (SACK, timestamps, window scaling, as the kernel's own ss -ti reports it), and a 100 MB transfer
/// on the clean link retransmits nothing, on either side.
/// </summary>
public sealed class EngineV2LiveTests : IDisposable
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-engine-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("curl", "ss", "nstat")]
    public void Curl_downloads_100_MB_from_serve_with_sack_timestamps_and_window_scale_and_neither_side_retransmits()
    {
        const long Size = 100L * 1024 * 1024;
        using NetNamespace ns = NetNamespace.Create();
        string pcap = Path.Combine(_directory, "serve.pcapng");
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "http", "--time-wait", "0.5", "--log-level", "warning", "--pcap", pcap);
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);

        // curl in the background; the kernel's view of its socket sampled every 20 ms while it runs, the last sample kept
        // (ss -ti; with -o too, since iproute2 6.1 leaves "ts sack" out of -ti alone on this kernel). The namespace is
        // new, so nstat's absolute counters are this run's.
        string size = Size.ToString(CultureInfo.InvariantCulture);
        PeerProgram run = ns.Run(Timeout, "bash", "-c", $$"""
            curl -sS --fail --noproxy '*' --max-time 80 -o /dev/null -w '%{http_code} %{size_download}\n' http://{{Addresses.Stack}}/bytes/{{size}} &
            pid=$!
            last=''
            while kill -0 $pid 2>/dev/null; do
                s=$(ss -tinoH state established dst {{Addresses.Stack}}:80 | tr '\n' ' ')
                [ -n "$s" ] && last=$s
                sleep 0.02
            done
            wait $pid || exit 1
            echo "ss: $last"
            nstat -az TcpRetransSegs | tail -n 1
            """);
        Assert.True(run.ExitCode == 0, run.Transcript);
        Assert.Contains($"200 {size}", run.OutputLines);

        string ss = Assert.Single(run.OutputLines, l => l.StartsWith("ss: ", StringComparison.Ordinal));
        string[] fields = ss.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(fields.Contains("sack"), ss);                                  // SACK negotiated (RFC 2018)
        Assert.Contains("ts", fields);                                             // timestamps (RFC 7323 §3)
        Assert.Contains(fields, f => f.StartsWith("wscale:", StringComparison.Ordinal)); // window scaling (RFC 7323 §2)
        Assert.DoesNotContain(fields, f => f.StartsWith("retrans:", StringComparison.Ordinal)); // ss prints it only when not 0

        string[] nstat = Assert.Single(run.OutputLines, l => l.StartsWith("TcpRetransSegs", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", nstat[1]); // the kernel retransmitted nothing, not even an ACK-carrying request

        Assert.True(serve.Terminate(Timeout), serve.Transcript); // a clean stop closes the capture
        // Ours: no data segment from UserTcp repeats sequence space already sent.
        IReadOnlyList<CapturedSegment> segments = Pcap.ReadTcp(pcap);
        uint? highest = null;
        long sent = 0;
        var repeated = new List<CapturedSegment>();
        foreach (CapturedSegment s in segments.Where(s => s.Source.ToString() == Addresses.Stack && s.SourcePort == 80 && s.PayloadLength > 0))
        {
            uint end = unchecked(s.Sequence + (uint)s.PayloadLength);
            if (highest is uint h && unchecked((int)(end - h)) <= 0) repeated.Add(s);
            else highest = end;
            sent += s.PayloadLength;
        }
        Assert.True(sent >= Size, $"the capture holds {sent} bytes of data from UserTcp");
        Assert.True(repeated.Count == 0, $"{repeated.Count} retransmitted segments, the first: {repeated.FirstOrDefault()}");
    }
}
