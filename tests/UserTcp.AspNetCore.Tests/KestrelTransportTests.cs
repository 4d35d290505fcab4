using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using UserTcp.Services;
using UserTcp.Sockets;
using UserTcp.Sockets.Http;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>ASP.NET Core on the UserTcp transport, driven by HttpClient over UserTcp: bodies, backpressure, and how connections end.</summary>
public sealed class KestrelTransportTests
{
    /// <summary>GET and HEAD /bytes/N: N bytes of the documented generated body, in 64 KiB writes.</summary>
    internal static void MapBytes(WebApplication app) => app.MapMethods("/bytes/{size:long}", ["GET", "HEAD"], async (long size, HttpContext http) =>
    {
        http.Response.ContentLength = size;
        http.Response.ContentType = "application/octet-stream";
        if (HttpMethods.IsHead(http.Request.Method)) return;
        byte[] chunk = new byte[64 * 1024];
        for (long offset = 0; offset < size; offset += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, size - offset);
            GeneratedBody.Fill(offset, chunk.AsSpan(0, n));
            await http.Response.Body.WriteAsync(chunk.AsMemory(0, n), http.RequestAborted);
        }
    });

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1460)]
    [InlineData(100_003)]
    [InlineData(10 * 1024 * 1024)]
    public async Task A_download_of_any_size_arrives_with_the_generated_bytes(int size)
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(MapBytes);
        using HttpClient http = pair.CreateClient();

        using HttpResponseMessage response = await http.GetAsync($"/bytes/{size}", pair.Token);
        byte[] body = await response.Content.ReadAsByteArrayAsync(pair.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size, response.Content.Headers.ContentLength);
        Assert.Equal(GeneratedBody.Sha256Hex(size), Convert.ToHexStringLower(SHA256.HashData(body)));
        Assert.Empty(pair.Log.TransportErrors);
    }

    [Fact]
    public async Task Head_answers_with_the_length_and_no_body_and_the_connection_serves_the_next_request()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(MapBytes);
        using HttpClient http = pair.CreateClient();

        using HttpResponseMessage head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/bytes/123456"), pair.Token);
        // Had body bytes followed the HEAD response, this GET on the same connection would read them as its status line.
        byte[] next = await http.GetByteArrayAsync("/bytes/10", pair.Token);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(123456, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(pair.Token));
        Assert.Equal(GeneratedBody.Sha256(10), SHA256.HashData(next));
        Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
    }

    [Fact]
    public async Task A_response_written_in_pieces_without_a_length_is_chunked_and_arrives_whole()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapGet("/pieces", async (HttpContext http) =>
        {
            for (int i = 0; i < 50; i++)
            {
                await http.Response.WriteAsync($"piece {i}\n", http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
            }
        }));
        using HttpClient http = pair.CreateClient();

        using HttpResponseMessage response = await http.GetAsync("/pieces", HttpCompletionOption.ResponseHeadersRead, pair.Token);
        Assert.True(response.Headers.TransferEncodingChunked);
        Assert.Null(response.Content.Headers.ContentLength);
        string body = await response.Content.ReadAsStringAsync(pair.Token);

        Assert.Equal(string.Concat(Enumerable.Range(0, 50).Select(i => $"piece {i}\n")), body);
    }

    [Fact]
    public async Task A_posted_body_of_10_MB_reaches_the_application_intact()
    {
        const int Size = 10 * 1024 * 1024;
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapPost("/sha256", async (HttpContext http) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = new byte[32 * 1024];
            long length = 0;
            int read;
            while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                length += read;
            }
            return $"{length} {Convert.ToHexStringLower(hash.GetHashAndReset())}";
        }));
        using HttpClient http = pair.CreateClient();
        byte[] upload = RandomNumberGenerator.GetBytes(Size);

        using HttpResponseMessage response = await http.PostAsync("/sha256", new ByteArrayContent(upload), pair.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{Size} {Convert.ToHexStringLower(SHA256.HashData(upload))}", await response.Content.ReadAsStringAsync(pair.Token));
    }

    [Fact]
    public async Task Two_hundred_sequential_requests_share_one_keep_alive_connection()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(MapBytes);
        using HttpClient http = pair.CreateClient();

        for (int i = 1; i <= 200; i++)
        {
            byte[] body = await http.GetByteArrayAsync($"/bytes/{i * 100}", pair.Token);
            Assert.Equal(GeneratedBody.Sha256(i * 100), SHA256.HashData(body));
        }

        Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        Assert.Single(pair.ClientEvents.Connections(KestrelPair.Port));
    }

    [Fact]
    public async Task An_application_that_does_not_read_holds_the_client_back_at_the_read_buffer_limit()
    {
        const int Size = 8 * 1024 * 1024;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using KestrelPair pair = await KestrelPair.StartAsync(
            app => app.MapPost("/later", async (HttpContext http) =>
            {
                await gate.Task.WaitAsync(http.RequestAborted);
                byte[] body = new byte[Size];
                await http.Request.Body.ReadExactlyAsync(body, http.RequestAborted);
                return Convert.ToHexStringLower(SHA256.HashData(body));
            }),
            transport: t =>
            {
                t.MaxReadBufferSize = 128 * 1024;
                t.ConnectionOptions = new UserTcpConnectionOptions { NoDelay = true, ReceiveBufferSize = 64 * 1024 };
            });
        using HttpClient http = pair.CreateClient(new UserTcpHttpOptions { Connection = new UserTcpConnectionOptions { NoDelay = true, SendBufferSize = 64 * 1024 } });
        byte[] upload = RandomNumberGenerator.GetBytes(Size);
        var content = new CountingContent(upload);

        Task<HttpResponseMessage> posting = http.PostAsync("/later", content, pair.Token);
        // At least the transport's read buffer must fill before the client is held back.
        long heldAt = await pair.SettledAsync(() => content.Taken, atLeast: 128 * 1024);
        gate.SetResult();
        using HttpResponseMessage response = await posting;

        // Held back by: the transport's read buffer (128 KiB), the server's receive buffer and the client's send buffer
        // (64 KiB each), and what HttpClient copies at a time; far short of the 8 MiB body.
        Assert.InRange(heldAt, 128 * 1024, 1024 * 1024);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(upload)), await response.Content.ReadAsStringAsync(pair.Token));
    }

    [Fact]
    public async Task A_client_that_does_not_read_holds_the_application_back_at_the_write_buffer_limit()
    {
        const int Size = 8 * 1024 * 1024;
        long written = 0;
        await using KestrelPair pair = await KestrelPair.StartAsync(
            app => app.MapGet("/flood", async (HttpContext http) =>
            {
                http.Response.ContentLength = Size;
                byte[] chunk = new byte[16 * 1024];
                for (long offset = 0; offset < Size; offset += chunk.Length)
                {
                    GeneratedBody.Fill(offset, chunk);
                    await http.Response.Body.WriteAsync(chunk, http.RequestAborted);
                    Interlocked.Add(ref written, chunk.Length);
                }
            }),
            transport: t => t.ConnectionOptions = new UserTcpConnectionOptions { NoDelay = true, SendBufferSize = 64 * 1024 });
        using HttpClient http = pair.CreateClient(new UserTcpHttpOptions { Connection = new UserTcpConnectionOptions { NoDelay = true, ReceiveBufferSize = 64 * 1024 } });

        using HttpResponseMessage response = await http.GetAsync("/flood", HttpCompletionOption.ResponseHeadersRead, pair.Token);
        // At least the server's send buffer must fill before the application is held back.
        long heldAt = await pair.SettledAsync(() => Interlocked.Read(ref written), atLeast: 64 * 1024);
        byte[] body = await response.Content.ReadAsByteArrayAsync(pair.Token);

        // Held back by: the client's receive buffer, the server's send buffer, the transport's write buffer and Kestrel's
        // response buffer (64 KiB each), and HttpClient's read buffer; far short of the 8 MiB body.
        Assert.InRange(heldAt, 64 * 1024, 1024 * 1024);
        Assert.Equal(GeneratedBody.Sha256(Size), SHA256.HashData(body));
    }

    [Fact]
    public async Task HttpContext_Abort_resets_the_connection_without_a_FIN()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapGet("/abort", async (HttpContext http) =>
        {
            await http.Response.WriteAsync("partial", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            http.Abort();
        }));
        using HttpClient http = pair.CreateClient();

        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using HttpResponseMessage response = await http.GetAsync("/abort", pair.Token);
            await response.Content.ReadAsByteArrayAsync(pair.Token);
        });

        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        await pair.EventuallyAsync(() => pair.ServerEvents.Sent(connection, TcpFlags.Rst) > 0, "the server sent RST");
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Fin));
        Assert.Equal(TcpState.Closed, pair.ServerEvents.StatesOf(connection)[^1]);
    }

    [Fact]
    public async Task Connection_close_ends_with_one_FIN_from_the_server_and_no_RST()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(MapBytes);
        using HttpClient http = pair.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/bytes/1000");
        request.Headers.ConnectionClose = true;

        using HttpResponseMessage response = await http.SendAsync(request, pair.Token);
        byte[] body = await response.Content.ReadAsByteArrayAsync(pair.Token);

        Assert.Equal(GeneratedBody.Sha256(1000), SHA256.HashData(body));
        Assert.True(response.Headers.ConnectionClose);
        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        // Kestrel closes after the response, but HttpClient also drops a "Connection: close" connection once the body is
        // read, so either FIN may come first: the server's close is active (ends in TIME-WAIT) or passive (CLOSE-WAIT,
        // LAST-ACK, CLOSED). Both are clean; LingeringCloseTests pins the active close with a client that waits for EOF.
        await pair.EventuallyAsync(() => pair.ServerEvents.StatesOf(connection) is [.., TcpState.TimeWait or TcpState.Closed], "the server's side closed");
        IReadOnlyList<TcpState> states = pair.ServerEvents.StatesOf(connection);
        Assert.True(states.Contains(TcpState.TimeWait) || states.Contains(TcpState.LastAck), string.Join(" ", states));
        Assert.Equal(1, pair.ServerEvents.Sent(connection, TcpFlags.Fin));
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Rst));
        Assert.Empty(pair.Log.TransportErrors);
    }

    [Fact]
    public async Task A_client_closing_its_idle_keep_alive_connection_gets_a_FIN_not_a_RST()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(MapBytes);
        using (HttpClient http = pair.CreateClient())
        {
            Assert.Equal(GeneratedBody.Sha256(100), SHA256.HashData(await http.GetByteArrayAsync("/bytes/100", pair.Token)));
        }
        // Disposing the client closed its pooled connection: its FIN first, then the server's (a passive close).

        FourTuple connection = Assert.Single(pair.ServerEvents.Connections(KestrelPair.Port));
        await pair.EventuallyAsync(() => pair.ServerEvents.StatesOf(connection) is [.., TcpState.Closed], "the server's side closed");
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed],
            pair.ServerEvents.StatesOf(connection));
        Assert.Equal(0, pair.ServerEvents.Sent(connection, TcpFlags.Rst));
    }

    [Fact]
    public async Task A_client_reset_fires_RequestAborted()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapGet("/wait", async (HttpContext http) =>
        {
            http.RequestAborted.Register(() => aborted.TrySetResult());
            started.SetResult();
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        }));
        await using UserTcpConnection raw = await pair.Client.ConnectAsync(new IpEndpoint(KestrelPair.ServerAddress, KestrelPair.Port), pair.Token);

        await raw.WriteAsync(Encoding.ASCII.GetBytes("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"), pair.Token);
        await started.Task.WaitAsync(pair.Token);
        raw.Abort();

        await aborted.Task.WaitAsync(pair.Token);
    }

    [Fact]
    public async Task Stopping_the_host_under_load_finishes_the_requests_in_flight_and_refuses_new_connections()
    {
        const int Size = 2 * 1024 * 1024;
        var inFlight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int started = 0;
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapGet("/slow/{size:long}", async (long size, HttpContext http) =>
        {
            if (Interlocked.Increment(ref started) == 8) inFlight.TrySetResult();
            http.Response.ContentLength = size;
            byte[] chunk = new byte[16 * 1024];
            for (long offset = 0; offset < size; offset += chunk.Length)
            {
                GeneratedBody.Fill(offset, chunk);
                await http.Response.Body.WriteAsync(chunk, CancellationToken.None);
                await Task.Delay(2, CancellationToken.None); // each response takes a while: the stop finds them all under way
            }
        }));
        using HttpClient http = pair.CreateClient();
        Task<byte[]>[] downloads = [.. Enumerable.Range(0, 8).Select(_ => http.GetByteArrayAsync($"/slow/{Size}", pair.Token))];

        await inFlight.Task.WaitAsync(pair.Token);
        await pair.App.StopAsync(pair.Token);
        byte[][] bodies = await Task.WhenAll(downloads);
        using HttpClient late = pair.CreateClient();
        HttpRequestException refused = await Assert.ThrowsAsync<HttpRequestException>(() => late.GetAsync("/slow/1", pair.Token));

        Assert.All(bodies, body => Assert.Equal(GeneratedBody.Sha256(Size), SHA256.HashData(body)));
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, Assert.IsType<System.Net.Sockets.SocketException>(refused.InnerException).SocketErrorCode);
        // Every connection the stop found ended with a FIN: the in-flight responses completed, none was reset. On the
        // real clock of a busy machine the client's ACK of that FIN can come after the server's loss probe (2 SRTT + 200 ms
        // for a lone segment, RFC 8985 §7.2) or RTO, which sends the FIN again: one FIN, and any repeat of it is a
        // retransmission. The client acknowledges each copy; when the server closed second (the client's FIN came first,
        // as it does after a "Connection: close" response), the first ACK ends LAST-ACK and the second finds no
        // connection and draws a RST (RFC 9293 §3.10.7.1, as Linux does): the only RST allowed, one per repeated FIN.
        IReadOnlyList<FourTuple> connections = pair.ServerEvents.Connections(KestrelPair.Port);
        Assert.Equal(8, connections.Count);
        Assert.All(connections, c => Assert.Equal(pair.ServerEvents.ResetsAnsweringLateAcksOfFin(c), pair.ServerEvents.Sent(c, TcpFlags.Rst)));
        Assert.All(connections, c => Assert.InRange(pair.ServerEvents.ResetsAnsweringLateAcksOfFin(c), 0, pair.ServerEvents.Retransmitted(c, TcpFlags.Fin)));
        Assert.All(connections, c => Assert.Single(pair.ServerEvents.FinSequenceNumbers(c)));
        Assert.All(connections, c => Assert.Equal(1, pair.ServerEvents.Sent(c, TcpFlags.Fin) - pair.ServerEvents.Retransmitted(c, TcpFlags.Fin)));
    }

    /// <summary>A request body that counts how much of it HttpClient has taken to send.</summary>
    private sealed class CountingContent(byte[] data) : HttpContent
    {
        private long _taken;

        public long Taken => Interlocked.Read(ref _taken);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (int offset = 0; offset < data.Length; offset += 16 * 1024)
            {
                int n = Math.Min(16 * 1024, data.Length - offset);
                await stream.WriteAsync(data.AsMemory(offset, n));
                Interlocked.Add(ref _taken, n);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = data.Length;
            return true;
        }
    }
}
