using System.Globalization;
using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>Kernel curl against UserTcp's HTTP service (port 80 of 10.77.0.2), inside a namespace.</summary>
public sealed class HttpTests : IDisposable
{
    private static readonly TimeSpan CurlTimeout = TimeSpan.FromSeconds(90);
    private static readonly string Url = $"http://{Addresses.Stack}/bytes/";
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-http-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("curl")]
    public async Task Curl_downloads_1_MB_with_the_documented_bytes()
    {
        const int Size = 1024 * 1024;
        await using LiveStack live = LiveStack.Start(services: true);
        string file = Path.Combine(_directory, "1M");

        PeerProgram curl = live.Namespace.Run(CurlTimeout, "curl", "-sS", "--fail", "--noproxy", "*", "--max-time", "60",
            "-o", file, "-w", "%{http_code} %{size_download}", Url + Size.ToString(CultureInfo.InvariantCulture));

        Assert.True(curl.ExitCode == 0, curl.Transcript);
        Assert.Equal([$"200 {Size}"], curl.OutputLines);
        Assert.Equal(Size, new FileInfo(file).Length);
        Assert.Equal(DocumentedBody.Sha256Hex(Size), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))));
    }

    [RequiresNetAdminFact("curl", "sha256sum")]
    public async Task Curl_downloads_100_MB_with_the_documented_bytes()
    {
        const int Size = 100 * 1024 * 1024;
        await using LiveStack live = LiveStack.Start(bound: CurlTimeout, recordSegments: false, services: true);

        // The body goes through sha256sum in the namespace; curl reports status and size on stderr.
        PeerProgram curl = live.Namespace.Run(CurlTimeout, "bash", "-c",
            $"set -o pipefail; curl -sS --fail --noproxy '*' --max-time 80 -w '%{{stderr}}%{{http_code}} %{{size_download}}\\n' {Url}{Size} | sha256sum");

        Assert.True(curl.ExitCode == 0, curl.Transcript);
        Assert.Contains($"200 {Size}", curl.ErrorLines);
        Assert.Equal([$"{DocumentedBody.Sha256Hex(Size)}  -"], curl.OutputLines);
    }

    [RequiresNetAdminFact("curl", "sha256sum")]
    public async Task Two_hundred_sequential_curl_requests_each_on_a_new_connection_all_succeed()
    {
        const int Count = 200;
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true);

        // Request i fetches 1000 * i bytes; each curl is a process of its own, so each request is a connection of its own.
        PeerProgram loop = live.Namespace.Run(CurlTimeout, "bash", "-c",
            $"set -o pipefail; for i in $(seq {Count}); do echo \"$i $(curl -sS --fail --noproxy '*' --max-time 10 {Url}$((i * 1000)) | sha256sum)\" || exit 1; done");

        Assert.True(loop.ExitCode == 0, loop.Transcript);
        Assert.Equal(Expected(Count, i => i * 1000), loop.OutputLines.Order(StringComparer.Ordinal));
        Assert.Equal(Count, live.Events.Connections(80).Count);
    }

    [RequiresNetAdminFact("curl", "sha256sum")]
    public async Task Fifty_concurrent_curl_requests_all_succeed()
    {
        const int Count = 50;
        const int Size = 1024 * 1024;
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true);

        // Fifty curl processes at once, each downloading a little more than 1 MiB on its own connection.
        PeerProgram burst = live.Namespace.Run(CurlTimeout, "bash", "-c",
            $"for i in $(seq {Count}); do (set -o pipefail; echo \"$i $(curl -sS --fail --noproxy '*' --max-time 60 {Url}$(({Size} + i)) | sha256sum)\") & done; wait");

        Assert.True(burst.ExitCode == 0, burst.Transcript);
        Assert.Equal(Expected(Count, i => Size + i), burst.OutputLines.Order(StringComparer.Ordinal));
        Assert.Equal(Count, live.Events.Connections(80).Count);
        Assert.True(MostAtOnce(live.Events, 80) > 1, "the requests never overlapped");
    }

    private static IEnumerable<string> Expected(int count, Func<int, long> size) =>
        Enumerable.Range(1, count).Select(i => $"{i} {DocumentedBody.Sha256Hex(size(i))}  -").Order(StringComparer.Ordinal);

    // The largest number of connections to the port that were established at the same moment.
    private static int MostAtOnce(EngineRecorder events, ushort port)
    {
        int open = 0, most = 0;
        foreach (TcpEvent e in events.Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection.Local.Port == port))
        {
            if (e.NewState == TcpState.Established) open++;
            if (e.OldState == TcpState.Established) open--;
            most = Math.Max(most, open);
        }
        return most;
    }
}
