using System.Security.Cryptography;
using System.Text.RegularExpressions;
using System.Text;
using UserTcp.Sockets;
using UserTcp.Sockets.Http;

namespace UserTcp.Services.Tests;

/// <summary>
/// The HTTP service (ASP.NET Core on the UserTcp transport) spoken to literally, request bytes in and response bytes out:
/// generated bodies with SHA-256, keep-alive, pipelining, HEAD, HTTP/1.0, errors and closes.
/// </summary>
public sealed class HttpServiceTests
{
    private static async Task<HttpTestClient> Open(TwoStacks net) => new(await net.ConnectAsync(HttpService.Port), net.Token);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(1460)]
    [InlineData(65_536)]
    [InlineData(1_000_003)]
    [InlineData(10 * 1024 * 1024)]
    public async Task Bytes_N_serves_exactly_N_generated_bytes(int size)
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(HttpTestClient.Get($"/bytes/{size}"));
        HttpTestResponse response = await http.ReadResponseAsync();

        Assert.Equal(200, response.Status);
        Assert.Equal("application/octet-stream", response.Headers["Content-Type"]);
        Assert.Equal(size, response.BodyLength);
        Assert.Equal(GeneratedBody.Sha256Hex(size), Convert.ToHexStringLower(response.BodySha256));
    }

    [Fact]
    public async Task One_connection_serves_several_requests_including_pipelined_ones_then_honours_connection_close()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        int[] sizes = [100, 200_000, 0, 5];
        await http.SendAsync(HttpTestClient.Get($"/bytes/{sizes[0]}"));
        Assert.Equal(sizes[0], (await http.ReadResponseAsync()).BodyLength);
        // Two requests in one write (pipelining): answered in order.
        await http.SendAsync(HttpTestClient.Get($"/bytes/{sizes[1]}") + HttpTestClient.Get($"/bytes/{sizes[2]}"));
        foreach (int size in sizes[1..3])
        {
            HttpTestResponse r = await http.ReadResponseAsync();
            Assert.Equal(GeneratedBody.Sha256(size), r.BodySha256);
            Assert.False(r.Headers.ContainsKey("Connection"));
        }
        await http.SendAsync(HttpTestClient.Get($"/bytes/{sizes[3]}", "Connection: close\r\n"));
        HttpTestResponse last = await http.ReadResponseAsync();

        Assert.Equal("close", last.Headers["Connection"]);
        Assert.Equal(GeneratedBody.Sha256(sizes[3]), last.BodySha256);
        Assert.True(await http.ServerClosedAsync());
        await net.EventuallyAsync(() => net.Host["http"]!.Statistics.Requests == 4, "four requests were counted");
        // The server closed first: its side goes through FIN-WAIT to TIME-WAIT once we close ours.
        await http.Connection.CloseAsync(net.Token);
        var id = new FourTuple(http.Connection.RemoteEndpoint, http.Connection.LocalEndpoint);
        await net.EventuallyAsync(() => net.ServerEvents.StatesOf(id).Contains(TcpState.TimeWait), "the server's side reached TIME-WAIT");
    }

    [Fact]
    public async Task Head_answers_with_the_length_and_no_body_and_the_connection_goes_on()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync("HEAD /bytes/123456 HTTP/1.1\r\nHost: x\r\n\r\n");
        HttpTestResponse head = await http.ReadResponseAsync(head: true);
        // Had any body bytes followed the HEAD response, this GET's response would not parse.
        await http.SendAsync(HttpTestClient.Get("/bytes/10"));
        HttpTestResponse get = await http.ReadResponseAsync();

        Assert.Equal(200, head.Status);
        Assert.Equal("123456", head.Headers["Content-Length"]);
        Assert.Equal(GeneratedBody.Sha256(10), get.BodySha256);
    }

    [Fact]
    public async Task The_index_describes_the_endpoints_and_shows_the_live_connection_table()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(HttpTestClient.Get("/"));
        HttpTestResponse index = await http.ReadResponseAsync();

        Assert.Equal(200, index.Status);
        Assert.StartsWith("text/plain", index.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.Contains("/bytes/N", index.BodyText, StringComparison.Ordinal);
        // This very connection, from the server's side, and the listener it came through.
        Assert.Matches($@"(?m)^ESTABLISHED +\d+ +\d+ +10\.0\.0\.2:80 +{Regex.Escape(http.Connection.LocalEndpoint.ToString())}( |$)", index.BodyText);
        Assert.Matches(@"(?m)^LISTEN +0 +512 +10\.0\.0\.2:80 +\*$", index.BodyText);
    }

    [Fact]
    public async Task A_browser_gets_the_index_as_an_html_table()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(HttpTestClient.Get("/", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"));
        HttpTestResponse index = await http.ReadResponseAsync();

        Assert.StartsWith("text/html", index.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.Contains($"<td>{http.Connection.LocalEndpoint}</td>", index.BodyText, StringComparison.Ordinal);
        Assert.Contains("<meta http-equiv=\"refresh\" content=\"1\">", index.BodyText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/nothing-here")]
    [InlineData("/bytes/")]
    [InlineData("/bytes/-1")]
    [InlineData("/bytes/12abc")]
    public async Task An_unknown_path_is_404_and_the_connection_stays_open(string path)
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(HttpTestClient.Get(path));
        HttpTestResponse missing = await http.ReadResponseAsync();
        await http.SendAsync(HttpTestClient.Get("/bytes/3"));

        Assert.Equal(404, missing.Status);
        Assert.Contains(path, missing.BodyText, StringComparison.Ordinal);
        Assert.Equal(200, (await http.ReadResponseAsync()).Status);
    }

    [Theory]
    [InlineData("garbage\r\n\r\n", 400)]
    [InlineData("GET /bytes/1 HTTP/1.1\r\n\r\n", 400)] // HTTP/1.1 without Host
    [InlineData("GET /bytes/1 HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400)]
    [InlineData("GET /bytes/1 HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /bytes/1 HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400)]
    [InlineData("GET /bytes/1 HTTP/2.0\r\nHost: a\r\n\r\n", 505)]
    public async Task A_malformed_request_is_answered_with_an_error_and_the_connection_closed(string request, int status)
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(request);
        HttpTestResponse response = await http.ReadResponseAsync();

        Assert.Equal(status, response.Status);
        Assert.Equal("close", response.Headers["Connection"]);
        Assert.True(await http.ServerClosedAsync());
    }

    [Theory]
    [InlineData("GET /bytes/99999999999999999999 HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("POST /bytes/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405)]
    [InlineData("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", 405)]
    public async Task A_request_the_application_refuses_gets_an_error_and_the_connection_goes_on(string request, int status)
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync(request);
        HttpTestResponse refused = await http.ReadResponseAsync();
        await http.SendAsync(HttpTestClient.Get("/bytes/3"));

        Assert.Equal(status, refused.Status);
        Assert.Equal(GeneratedBody.Sha256(3), (await http.ReadResponseAsync()).BodySha256);
    }

    [Fact]
    public async Task A_request_head_larger_than_the_limit_is_431_and_the_connection_closed()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync($"GET / HTTP/1.1\r\nHost: a\r\nX-Big: {new string('x', 9000)}\r\n\r\n");
        HttpTestResponse response = await http.ReadResponseAsync();

        Assert.Equal(431, response.Status); // Request Header Fields Too Large
        Assert.True(await http.ServerClosedAsync()); // a FIN: the oversized head was read, so closing leaves nothing unread to reset
    }

    [Fact]
    public async Task Http_1_0_closes_after_the_response_unless_asked_to_keep_alive()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync("GET /bytes/4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        HttpTestResponse kept = await http.ReadResponseAsync();
        await http.SendAsync("GET /bytes/4 HTTP/1.0\r\n\r\n");
        HttpTestResponse closed = await http.ReadResponseAsync();

        Assert.Equal("keep-alive", kept.Headers["Connection"]);
        Assert.Equal("close", closed.Headers["Connection"]);
        Assert.True(await http.ServerClosedAsync());
    }

    [Fact]
    public async Task A_request_body_is_skipped_and_absolute_form_targets_are_understood()
    {
        await using TwoStacks net = TwoStacks.Start();
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        await http.SendAsync("GET http://10.0.0.2/bytes/9?x=1 HTTP/1.1\r\nHost: 10.0.0.2\r\nContent-Length: 5\r\n\r\nhello");
        HttpTestResponse first = await http.ReadResponseAsync();
        await http.SendAsync(HttpTestClient.Get("/bytes/2"));
        HttpTestResponse second = await http.ReadResponseAsync();

        Assert.Equal(GeneratedBody.Sha256(9), first.BodySha256);
        Assert.Equal(GeneratedBody.Sha256(2), second.BodySha256);
    }

    [Fact]
    public async Task An_idle_connection_is_closed_after_the_keep_alive_timeout()
    {
        await using TwoStacks net = TwoStacks.Start(options: new ServiceHostOptions
        {
            Http = new HttpServiceOptions { KeepAliveTimeout = TimeSpan.FromMilliseconds(200) },
        });
        HttpTestClient http = await Open(net);
        await using UserTcpConnection _ = http.Connection;

        Assert.True(await http.ServerClosedAsync());
    }

    [Fact]
    public async Task Fifty_concurrent_connections_each_get_their_own_body()
    {
        await using TwoStacks net = TwoStacks.Start();

        async Task<bool> Fetch(int i)
        {
            HttpTestClient http = await Open(net);
            await using UserTcpConnection _ = http.Connection;
            int size = 20_000 + i * 997;
            await http.SendAsync(HttpTestClient.Get($"/bytes/{size}", "Connection: close\r\n"));
            HttpTestResponse r = await http.ReadResponseAsync();
            return r.Status == 200 && r.BodySha256.AsSpan().SequenceEqual(GeneratedBody.Sha256(size));
        }

        bool[] results = await Task.WhenAll(Enumerable.Range(0, 50).Select(Fetch));

        Assert.All(results, Assert.True);
        Assert.Equal(50, net.Host["http"]!.Statistics.ConnectionsAccepted);
    }

    [Fact]
    public async Task Chunked_N_serves_the_same_bytes_in_chunked_coding()
    {
        await using TwoStacks net = TwoStacks.Start();
        using HttpClient http = Client(net);

        using HttpResponseMessage response = await http.GetAsync("/chunked/300007", HttpCompletionOption.ResponseHeadersRead, net.Token);

        Assert.True(response.Headers.TransferEncodingChunked);
        Assert.Null(response.Content.Headers.ContentLength);
        Assert.Equal(GeneratedBody.Sha256(300_007), SHA256.HashData(await response.Content.ReadAsByteArrayAsync(net.Token)));
    }

    [Fact]
    public async Task Sha256_answers_with_the_length_and_hash_of_the_posted_body()
    {
        await using TwoStacks net = TwoStacks.Start();
        byte[] upload = RandomNumberGenerator.GetBytes(1_000_003);
        string answer;
        using (HttpClient http = Client(net))
        {
            using HttpResponseMessage response = await http.PostAsync("/sha256", new ByteArrayContent(upload), net.Token);
            answer = await response.Content.ReadAsStringAsync(net.Token);
        }

        Assert.Equal($"1000003 {Convert.ToHexStringLower(SHA256.HashData(upload))}\n", answer);
        // Counted once the connection is done (the client's dispose closed it): the body and the request head.
        await net.EventuallyAsync(() => net.Host["http"]!.Statistics.BytesReceived > upload.Length, "the upload was counted");
        Assert.InRange(net.Host["http"]!.Statistics.BytesReceived, upload.Length + 50, upload.Length + 1000);
    }

    private static HttpClient Client(TwoStacks net) =>
        new(UserTcpHttp.CreateHandler(net.Client)) { BaseAddress = new Uri($"http://{TwoStacks.ServerAddress}/") };
}
