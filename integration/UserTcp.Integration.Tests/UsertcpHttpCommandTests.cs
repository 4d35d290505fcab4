using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The commands as a person runs them: `usertcp get` (HttpClient over UserTcp) with curl's options against a kernel
/// HTTP server, and `usertcp serve`'s HTTP (ASP.NET Core on UserTcp) against the kernel's curl, ab and wrk.
/// </summary>
public sealed class UsertcpHttpCommandTests : IDisposable
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly string Kernel = Addresses.KernelCidr.Split('/')[0];
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-commands-").FullName;

    /// <summary>
    /// The handler of an HTTP/1.1 server (<see cref="StartServer"/>) that answers every method with what it received,
    /// one line each: "METHOD PATH", the headers as "Name: value", and "body LENGTH SHA256"; 404 for paths under /missing.
    /// </summary>
    private const string RequestEcho = """
            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                lines = [self.command + " " + self.path] + [k + ": " + v for k, v in self.headers.items()]
                lines.append("body %d %s" % (len(body), hashlib.sha256(body).hexdigest()))
                out = ("\n".join(lines) + "\n").encode()
                self.send_response(404 if self.path.startswith("/missing") else 200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)
            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer
        """;

    /// <summary>
    /// python3 serving HTTP/1.1 on 0.0.0.0:<paramref name="port"/> in the namespace with <paramref name="handler"/>'s
    /// methods (indented as a class body), started and listening.
    /// </summary>
    private static PeerProgram StartServer(NetNamespace ns, string handler, int port)
    {
        string program = $"""
            import hashlib, http.server, sys
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def log_message(self, *args):
                    pass
            {handler}
            server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
            print("listening", flush=True)
            server.serve_forever()
            """;
        PeerProgram server = ns.Start("python3", "-c", program, port.ToString(CultureInfo.InvariantCulture));
        Assert.True(server.WaitForOutputLine(l => l == "listening", Timeout), server.Transcript);
        return server;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("python3")]
    public void Get_sends_the_method_headers_and_body_that_curls_options_ask_for()
    {
        using NetNamespace ns = NetNamespace.Create();
        // The server binds before the interface exists: each usertcp get makes its own.
        StartServer(ns, RequestEcho, 8000);
        string url = $"http://{Kernel}:8000";
        byte[] upload = RandomNumberGenerator.GetBytes(300_001);
        string uploadPath = Path.Combine(_directory, "upload"), answer = Path.Combine(_directory, "answer");
        File.WriteAllBytes(uploadPath, upload);

        PeerProgram put = Get(ns, "-X", "PUT", "-H", "X-Probe: 42", "-H", "User-Agent:", "-H", "Content-Type: application/octet-stream",
            "--data", $"@{uploadPath}", $"{url}/echo?q=1", "-o", answer);
        string[] echoed = File.ReadAllLines(answer);
        Assert.Equal("PUT /echo?q=1", echoed[0]);
        Assert.Contains("X-Probe: 42", echoed);
        Assert.Contains("Content-Type: application/octet-stream", echoed);
        Assert.DoesNotContain(echoed, l => l.StartsWith("User-Agent", StringComparison.OrdinalIgnoreCase)); // "User-Agent:" left it out
        Assert.Equal($"body {upload.Length} {Convert.ToHexStringLower(SHA256.HashData(upload))}", echoed[^1]);
        Assert.Contains(put.ErrorLines, l => l.StartsWith($"usertcp get: {new FileInfo(answer).Length} bytes in ", StringComparison.Ordinal));

        PeerProgram form = ns.Run(Timeout, "bash", "-c", $"printf 'a=1&b=2' | {Usertcp} get --data @- {url}/form");
        Assert.True(form.ExitCode == 0, form.Transcript);
        Assert.Equal("POST /form", form.OutputLines[0]);
        Assert.Contains("Content-Type: application/x-www-form-urlencoded", form.OutputLines);
        Assert.Equal($"body 7 {Convert.ToHexStringLower(SHA256.HashData("a=1&b=2"u8))}", form.OutputLines[^1]);

        PeerProgram head = Get(ns, "--head", $"{url}/echo");
        Assert.Equal("HTTP/1.1 200 OK", head.OutputLines[0].TrimEnd('\r'));
        Assert.Contains(head.OutputLines, l => l.StartsWith("Content-Length: ", StringComparison.Ordinal));

        PeerProgram missing = ns.Run(Timeout, Usertcp, "get", $"{url}/missing/page");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal([$"usertcp get: {url}/missing/page answered 404 Not Found"], missing.ErrorLines);
    }

    [RequiresNetAdminFact("curl", "ab", "wrk", "nc")]
    public void Serve_answers_curl_ab_wrk_and_a_half_closing_nc()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "http", "--time-wait", "0.5", "--log-level", "warning");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);
        string url = $"http://{Addresses.Stack}";
        string body = Path.Combine(_directory, "body");

        foreach (long size in new long[] { 0, 1, 1460, 65_537, 3_000_001 })
        {
            PeerProgram curl = ns.Run(Timeout, "curl", "-sS", "--fail", "--noproxy", "*", "-o", body, $"{url}/bytes/{size.ToString(CultureInfo.InvariantCulture)}");
            Assert.True(curl.ExitCode == 0, curl.Transcript);
            Assert.Equal(DocumentedBody.Sha256Hex(size), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(body))));
        }
        PeerProgram head = ns.Run(Timeout, "curl", "-sS", "--fail", "--noproxy", "*", "-I", "-0", $"{url}/bytes/42");
        Assert.Equal(["HTTP/1.1 200 OK", "Content-Length: 42"], head.OutputLines.Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("HTTP/", StringComparison.Ordinal) || l.StartsWith("Content-Length", StringComparison.Ordinal)));
        PeerProgram nc = ns.Run(Timeout, "bash", "-c", $"printf 'GET /bytes/100000 HTTP/1.0\\r\\n\\r\\n' | nc -N -w 10 {Addresses.Stack} 80 | tail -c 100000 | sha256sum");
        Assert.Equal([$"{DocumentedBody.Sha256Hex(100_000)}  -"], nc.OutputLines);
        PeerProgram ab = ns.Run(Timeout, "ab", "-k", "-q", "-n", "1000", "-c", "4", $"{url}/bytes/512");
        Assert.True(ab.ExitCode == 0, ab.Transcript);
        Assert.Contains(ab.OutputLines, l => l.StartsWith("Failed requests:", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));
        Assert.Contains(ab.OutputLines, l => l.StartsWith("Keep-Alive requests:", StringComparison.Ordinal) && l.EndsWith(" 1000", StringComparison.Ordinal));
        PeerProgram wrk = ns.Run(Timeout, "wrk", "-t", "1", "-c", "8", "-d", "1s", $"{url}/bytes/512");
        Assert.True(wrk.ExitCode == 0, wrk.Transcript);
        Assert.DoesNotContain(wrk.OutputLines, l => l.Contains("Socket errors", StringComparison.Ordinal) || l.Contains("Non-2xx", StringComparison.Ordinal));
        PeerProgram page = ns.Run(Timeout, "curl", "-sS", "--fail", "--noproxy", "*", $"{url}/");
        Assert.Contains(page.OutputLines, l => l.StartsWith("LISTEN", StringComparison.Ordinal) && l.Contains($"{Addresses.Stack}:80", StringComparison.Ordinal));
        Assert.Contains(page.OutputLines, l => l.StartsWith("ESTABLISHED", StringComparison.Ordinal)); // curl's own connection

        Assert.True(serve.Terminate(Timeout), serve.Transcript);
        Assert.Contains(serve.OutputLines, l => l.StartsWith("stopped on SIGTERM", StringComparison.Ordinal));
        Assert.DoesNotContain(serve.ErrorLines, l => l.Contains("fail", StringComparison.OrdinalIgnoreCase) || l.Contains("error", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A handler for <see cref="StartServer"/>: every GET gets Content-Length 100000 and 1000 bytes of "x", then the connection closes.</summary>
    private const string CutShort = """
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"x" * 1000)
                self.wfile.flush()
                self.close_connection = True
        """;

    [RequiresNetAdminFact("python3")]
    public void Get_whose_body_breaks_off_removes_only_an_output_file_it_made_and_never_one_that_existed()
    {
        using NetNamespace ns = NetNamespace.Create();
        StartServer(ns, CutShort, 8001);
        string url = $"http://{Kernel}:8001/file";
        string fresh = Path.Combine(_directory, "fresh"), existing = Path.Combine(_directory, "existing");
        File.WriteAllText(existing, "the user's own file");

        PeerProgram first = ns.Run(Timeout, Usertcp, "get", url, "-o", fresh);
        Assert.True(first.ExitCode == 1, first.Transcript);
        Assert.Contains(first.ErrorLines, l => l.Contains("the body broke off after 1000 of 100000 bytes", StringComparison.Ordinal));
        Assert.False(File.Exists(fresh), first.Transcript); // the run made it: a partial download is not left behind

        PeerProgram second = ns.Run(Timeout, Usertcp, "get", url, "-o", existing);
        Assert.True(second.ExitCode == 1, second.Transcript);
        Assert.True(File.Exists(existing), second.Transcript); // must not happen: deleting a file the user had
        Assert.Equal(new string('x', 1000), File.ReadAllText(existing)); // what arrived, as curl leaves it
    }

    private static PeerProgram Get(NetNamespace ns, params string[] arguments)
    {
        PeerProgram get = ns.Run(Timeout, [Usertcp, "get", .. arguments]);
        Assert.True(get.ExitCode == 0, get.Transcript);
        return get;
    }
}
