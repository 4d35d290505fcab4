using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Kernel HTTP clients — curl, ab, wrk — against the HTTP service, an ASP.NET Core minimal-API app on the UserTcp
/// transport (port 80 of 10.77.0.2), inside a namespace.
/// </summary>
public sealed partial class KestrelOverUserTcpTests : IDisposable
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(60);
    private static readonly string Url = $"http://{Addresses.Stack}";
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-kestrel-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("curl")]
    public async Task Curl_gets_heads_posts_and_reads_a_chunked_response()
    {
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true);
        string body = Path.Combine(_directory, "body"), headers = Path.Combine(_directory, "headers"), upload = Path.Combine(_directory, "upload");
        byte[] uploaded = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 3);
        await File.WriteAllBytesAsync(upload, uploaded);

        PeerProgram get = Curl(live, "-o", body, "-w", "%{http_code} %{size_download}", $"{Url}/bytes/1234567");
        Assert.Equal(["200 1234567"], get.OutputLines);
        Assert.Equal(DocumentedBody.Sha256Hex(1_234_567), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(body))));

        PeerProgram head = Curl(live, "-I", $"{Url}/bytes/777");
        Assert.Equal("HTTP/1.1 200 OK", head.OutputLines[0]);
        Assert.Contains("Content-Length: 777", head.OutputLines);

        PeerProgram post = Curl(live, "--data-binary", $"@{upload}", "-H", "Content-Type: application/octet-stream", $"{Url}/sha256");
        Assert.Equal([$"{uploaded.Length} {Convert.ToHexStringLower(SHA256.HashData(uploaded))}"], post.OutputLines);

        PeerProgram chunked = Curl(live, "-D", headers, "-o", body, $"{Url}/chunked/1000003");
        Assert.Contains("Transfer-Encoding: chunked", File.ReadAllLines(headers).Select(l => l.TrimEnd('\r')));
        Assert.Equal(DocumentedBody.Sha256Hex(1_000_003), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(body))));
    }

    [RequiresNetAdminFact("curl")]
    public async Task Curl_keeps_one_connection_for_several_urls_and_speaks_HTTP_1_0()
    {
        await using LiveStack live = LiveStack.Start(services: true);

        PeerProgram three = Curl(live, "-v", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
            $"{Url}/bytes/10", $"{Url}/bytes/20000", $"{Url}/bytes/30");
        Assert.Single(live.Events.Connections(80));
        Assert.Contains(three.ErrorLines, l => l.Contains("existing connection", StringComparison.Ordinal)); // curl says it reused it

        PeerProgram old = Curl(live, "-0", "-D", "-", "-o", Path.Combine(_directory, "old"), $"{Url}/bytes/4000");
        Assert.Equal("HTTP/1.1 200 OK", old.OutputLines[0].TrimEnd('\r'));
        Assert.Equal(DocumentedBody.Sha256Hex(4000), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(_directory, "old")))));
        // curl closes the moment it has Content-Length bytes, so which FIN goes first is a race (seen both ways in CI);
        // either way the HTTP/1.0 connection is not kept and ends in an orderly close, not a reset.
        FourTuple second = live.Events.Connections(80)[1];
        Assert.True(Poll.Until(() => live.Events.States(second) is [.., TcpState.TimeWait or TcpState.Closed], TimeSpan.FromSeconds(5)), live.Events.Trace(second));
        Assert.Contains(EngineRecorder.Format(live.Events.States(second)), OrderlyCloses);

        // A client that reads until EOF (nc, stdin done but its send side left open) shows the server closing on its
        // own after an HTTP/1.0 response: it sends the first FIN and holds the TIME-WAIT (RFC 9112 §9.3).
        PeerProgram raw = live.Namespace.Run(ClientTimeout, "bash", "-c",
            $"printf 'GET /bytes/4000 HTTP/1.0\\r\\n\\r\\n' | nc -w 20 {Addresses.Stack} 80 | wc -c");
        Assert.True(raw.ExitCode == 0 && long.Parse(raw.OutputLines[^1], CultureInfo.InvariantCulture) > 4000, raw.Transcript);
        FourTuple third = live.Events.Connections(80)[2];
        Assert.True(live.Events.WaitForState(third, TcpState.TimeWait, TimeSpan.FromSeconds(5)), live.Events.Trace(third));
        Assert.Contains(EngineRecorder.Format(live.Events.States(third)), ServerClosesFirst);
    }

    private static readonly string[] ServerClosesFirst =
    [
        "LISTEN → SYN-RECEIVED → ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT",
        "LISTEN → SYN-RECEIVED → ESTABLISHED → FIN-WAIT-1 → TIME-WAIT", // the client's FIN carries the ACK of ours
    ];

    private static readonly string[] OrderlyCloses =
    [
        .. ServerClosesFirst,
        "LISTEN → SYN-RECEIVED → ESTABLISHED → FIN-WAIT-1 → CLOSING → TIME-WAIT", // both FINs cross
        "LISTEN → SYN-RECEIVED → ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED",   // the client first
    ];

    [RequiresNetAdminFact("ab")]
    public async Task Ab_completes_every_request_with_keep_alive_and_without()
    {
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true);

        PeerProgram kept = live.Namespace.Run(ClientTimeout, "ab", "-k", "-q", "-n", "2000", "-c", "8", $"{Url}/bytes/1000");
        PeerProgram fresh = live.Namespace.Run(ClientTimeout, "ab", "-q", "-n", "300", "-c", "4", $"{Url}/bytes/1000");

        Assert.True(kept.ExitCode == 0, kept.Transcript);
        Assert.Equal("2000", AbField(kept, "Complete requests"));
        Assert.Equal("0", AbField(kept, "Failed requests"));
        Assert.Equal("2000", AbField(kept, "Keep-Alive requests"));
        Assert.DoesNotContain(kept.OutputLines, l => l.StartsWith("Non-2xx responses", StringComparison.Ordinal));
        Assert.True(fresh.ExitCode == 0, fresh.Transcript);
        Assert.Equal("300", AbField(fresh, "Complete requests"));
        Assert.Equal("0", AbField(fresh, "Failed requests"));
        Assert.DoesNotContain(fresh.OutputLines, l => l.StartsWith("Non-2xx responses", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("wrk")]
    public async Task Wrk_runs_without_an_error()
    {
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true);

        PeerProgram wrk = live.Namespace.Run(ClientTimeout, "wrk", "-t", "2", "-c", "16", "-d", "2s", $"{Url}/bytes/1000");

        Assert.True(wrk.ExitCode == 0, wrk.Transcript);
        Match done = WrkRequests().Match(string.Join('\n', wrk.OutputLines));
        Assert.True(done.Success && long.Parse(done.Groups[1].Value, CultureInfo.InvariantCulture) > 100, wrk.Transcript);
        Assert.DoesNotContain(wrk.OutputLines, l => l.Contains("Socket errors", StringComparison.Ordinal)); // connect, read, write, timeout
        Assert.DoesNotContain(wrk.OutputLines, l => l.Contains("Non-2xx", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("curl", "sha256sum")]
    public async Task Stopping_the_server_under_load_completes_every_response_it_started()
    {
        const int Workers = 8;
        const int Size = 2_000_000;
        await using LiveStack live = LiveStack.Start(services: true);

        // Each worker downloads again and again and checks each body, until a request fails; the first failure must be
        // the refused connect of a stopped server (curl exit 7), or at worst a connection reset before the server had
        // accepted it (52, 56: checked below against what the server sent), never a cut response (18).
        PeerProgram load = live.Namespace.Start("bash", "-c", $$"""
            for w in $(seq {{Workers}}); do
              ( n=0
                while [ $n -lt 500 ]; do
                  curl -sS --noproxy '*' --max-time 20 -o {{_directory}}/w$w {{Url}}/bytes/{{Size}}; rc=$?
                  if [ $rc -ne 0 ]; then echo "end $w $rc"; break; fi
                  echo "ok $w $(sha256sum < {{_directory}}/w$w | cut -d' ' -f1)"; n=$((n + 1))
                done ) &
            done
            wait
            """);
        Assert.True(load.WaitForOutputLine(l => l.StartsWith("ok ", StringComparison.Ordinal), ClientTimeout), load.Transcript);
        Assert.True(Poll.Until(() => load.OutputLines.Count(l => l.StartsWith("ok ", StringComparison.Ordinal)) >= 2 * Workers, ClientTimeout), load.Transcript);

        await live.Services!.StopAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(load.WaitForExit(ClientTimeout), load.Transcript);

        string expected = DocumentedBody.Sha256Hex(Size);
        Assert.All(load.OutputLines.Where(l => l.StartsWith("ok ", StringComparison.Ordinal)), l => Assert.EndsWith(expected, l, StringComparison.Ordinal));
        string[] ends = [.. load.OutputLines.Where(l => l.StartsWith("end ", StringComparison.Ordinal))];
        Assert.Equal(Workers, ends.Length);
        Assert.All(ends, l => Assert.Matches(@"^end \d+ (7|52|56)$", l));
        // No connection that carried a response was reset: every RST the server sent went to a connection it never
        // accepted (the listener was closed under it), which sent nothing but its SYN-ACK, or answered a SYN that
        // reused the four-tuple of a finished connection once nothing listened. Each incarnation of a four-tuple is
        // judged alone: one ends in CLOSED (its own RST, if any, follows at once) or TIME-WAIT (a SYN may end it, RFC
        // 6191), and the next begins with a new SYN.
        IReadOnlyList<TcpEvent> events = live.Events.Events;
        foreach (FourTuple connection in live.Events.Connections(80))
        {
            bool reset = false, answered = false, ended = false;
            foreach (TcpEvent e in events.Where(e => e.Connection == connection))
            {
                if (e.Kind == TcpEventKind.StateChanged) ended = e.NewState is TcpState.Closed or TcpState.TimeWait;
                bool newSyn = e.Kind == TcpEventKind.SegmentIn && (e.Segment.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn;
                if (ended && newSyn) (reset, answered, ended) = (false, false, false);
                if (e.Kind != TcpEventKind.SegmentOut) continue;
                reset |= (e.Segment.Flags & TcpFlags.Rst) != 0;
                answered |= e.Segment.PayloadLength > 0;
                if (reset && answered) Assert.Fail(live.Events.Trace(connection)); // the trace only when it fails: it is long
            }
        }
    }

    private static PeerProgram Curl(LiveStack live, params string[] arguments)
    {
        PeerProgram curl = live.Namespace.Run(ClientTimeout, ["curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "30", .. arguments]);
        Assert.True(curl.ExitCode == 0, curl.Transcript);
        return curl;
    }

    // "Failed requests:        0" → "0".
    private static string AbField(PeerProgram ab, string name) =>
        ab.OutputLines.Where(l => l.StartsWith(name + ":", StringComparison.Ordinal)).Select(l => l[(name.Length + 1)..].Trim()).FirstOrDefault()
        ?? throw new Xunit.Sdk.XunitException($"ab printed no '{name}':\n{ab.Transcript}");

    [GeneratedRegex(@"(\d+) requests in ")]
    private static partial Regex WrkRequests();
}
