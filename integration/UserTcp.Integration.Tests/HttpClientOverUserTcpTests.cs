using System.Globalization;
using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets.Http;

namespace UserTcp.Integration.Tests;

/// <summary>HttpClient over UserTcp (UserTcpHttp) against a kernel HTTP server: python3's http.server, speaking HTTP/1.1, in the namespace.</summary>
public sealed class HttpClientOverUserTcpTests : IDisposable
{
    private const int ServerPort = 8000;
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);
    private static readonly string BaseUrl = $"http://{Addresses.KernelAddress}:{ServerPort}/";
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-httpclient-").FullName;

    /// <summary>
    /// python3 -c FileServer DIR PORT: serves the files of DIR on 0.0.0.0:PORT with persistent HTTP/1.1 connections
    /// (http.server answers HTTP/1.0, one request per connection, unless told otherwise); prints "listening".
    /// </summary>
    private const string FileServer = """
        import http.server, os, sys
        os.chdir(sys.argv[1])
        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Handler)
        print("listening", flush=True)
        server.serve_forever()
        """;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("python3")]
    public async Task HttpClient_downloads_100_MB_from_a_kernel_server_with_equal_sha256()
    {
        const int Size = 100 * 1024 * 1024;
        string expected = WriteRandomFile("100M", Size);
        await using LiveStack live = LiveStack.Start(bound: TimeSpan.FromSeconds(90), recordSegments: false);
        StartServer(live);
        using var http = new HttpClient(UserTcpHttp.CreateHandler(live.Stack)) { Timeout = TimeSpan.FromSeconds(80) };

        using HttpResponseMessage response = await http.GetAsync(BaseUrl + "100M", HttpCompletionOption.ResponseHeadersRead, live.Token);
        await using Stream body = await response.Content.ReadAsStreamAsync(live.Token);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[256 * 1024];
        long received = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, live.Token)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            received += read;
        }

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Size, response.Content.Headers.ContentLength);
        Assert.Equal(Size, received);
        Assert.Equal(expected, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    [RequiresNetAdminFact("python3")]
    public async Task Two_hundred_sequential_requests_to_a_kernel_server_share_one_keep_alive_connection()
    {
        const int Count = 200;
        string[] expected = [.. Enumerable.Range(1, Count).Select(i => WriteRandomFile($"f{i}", i * 100))];
        await using LiveStack live = LiveStack.Start();
        StartServer(live);
        using var http = new HttpClient(UserTcpHttp.CreateHandler(live.Stack)) { Timeout = TimeSpan.FromSeconds(10) };

        for (int i = 1; i <= Count; i++)
        {
            byte[] body = await http.GetByteArrayAsync(BaseUrl + $"f{i}", live.Token);
            Assert.Equal(expected[i - 1], Convert.ToHexStringLower(SHA256.HashData(body)));
        }

        FourTuple[] connections = [.. live.Events.Events.Select(e => e.Connection).Where(c => c.Remote.Port == ServerPort).Distinct()];
        Assert.Single(connections);
        // 200 requests on it, each a segment of its own carrying data to the server.
        Assert.True(live.Events.Events.Count(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == connections[0] && e.Segment.PayloadLength > 0) >= Count);
    }

    private void StartServer(LiveStack live)
    {
        PeerProgram server = live.Namespace.Start("python3", "-c", FileServer, _directory, ServerPort.ToString(CultureInfo.InvariantCulture));
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
    }

    /// <summary>Writes <paramref name="size"/> random bytes to a file of the served directory; returns their SHA-256.</summary>
    private string WriteRandomFile(string name, int size)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using FileStream file = File.Create(Path.Combine(_directory, name));
        byte[] chunk = new byte[1024 * 1024];
        for (int left = size; left > 0; left -= chunk.Length)
        {
            int n = Math.Min(chunk.Length, left);
            RandomNumberGenerator.Fill(chunk.AsSpan(0, n));
            hash.AppendData(chunk, 0, n);
            file.Write(chunk, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
