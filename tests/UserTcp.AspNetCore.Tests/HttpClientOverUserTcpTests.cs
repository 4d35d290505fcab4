using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using UserTcp.Services;
using UserTcp.Sockets.Http;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>What HttpClient over UserTcp adds to HttpClient: how it connects, and how it fails.</summary>
public sealed class HttpClientOverUserTcpTests
{
    [Fact]
    public async Task A_port_without_a_listener_fails_the_request_with_connection_refused()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        using HttpClient http = pair.CreateClient();

        HttpRequestException failure = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://{KestrelPair.ServerAddress}:81/", pair.Token));

        Assert.Equal(HttpRequestError.ConnectionError, failure.HttpRequestError);
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(failure.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task A_host_name_fails_with_a_name_resolution_error_that_says_what_to_do()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        using HttpClient http = pair.CreateClient();

        HttpRequestException failure = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://server.example/bytes/1", pair.Token));

        Assert.Equal(HttpRequestError.NameResolutionError, failure.HttpRequestError);
        Assert.Contains("'server.example' is not an IPv4 address", failure.Message, StringComparison.Ordinal);
        Assert.Empty(pair.ClientEvents.Events); // nothing was sent anywhere
    }

    [Fact]
    public async Task A_resolver_given_in_the_options_turns_host_names_into_addresses()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        var names = new List<string>();
        using HttpClient http = pair.CreateClient(new UserTcpHttpOptions
        {
            ResolveHost = (name, _) =>
            {
                names.Add(name);
                return ValueTask.FromResult(KestrelPair.ServerAddress);
            },
        });

        byte[] body = await http.GetByteArrayAsync("http://server.example/bytes/5000", pair.Token);

        Assert.Equal(GeneratedBody.Sha256(5000), SHA256.HashData(body));
        Assert.Equal(["server.example"], names);
    }

    [Fact]
    public async Task The_connect_timeout_of_the_handler_bounds_a_connect_nobody_answers()
    {
        await using KestrelPair pair = await KestrelPair.StartAsync(KestrelTransportTests.MapBytes);
        SocketsHttpHandler handler = UserTcpHttp.CreateHandler(pair.Client);
        handler.ConnectTimeout = TimeSpan.FromMilliseconds(300);
        using var http = new HttpClient(handler);

        // 10.0.0.9 is on the pipe, but no stack answers there: the SYN goes unanswered until the handler gives up.
        TaskCanceledException failure = await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetAsync("http://10.0.0.9/", pair.Token));

        Assert.IsType<TimeoutException>(failure.InnerException);
        Assert.DoesNotContain(pair.Client.Snapshot(), c => c.Remote.Address == new Ipv4Address(10, 0, 0, 9)); // the abandoned connect left nothing behind
    }

    [Fact]
    public async Task A_reset_in_the_middle_of_a_response_fails_the_request_with_an_HttpRequestException_as_over_kernel_sockets()
    {
        // HttpClient wraps a failed read of its connection's stream into HttpRequestException only when it is an
        // IOException (NetworkStream's kind); a bare SocketException escaped unwrapped, past `catch (HttpRequestException)`.
        await using KestrelPair pair = await KestrelPair.StartAsync(app => app.MapGet("/abort", async (HttpContext http) =>
        {
            http.Response.ContentLength = 100;
            await http.Response.WriteAsync("partial", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            http.Abort();
        }));
        using HttpClient http = pair.CreateClient();

        HttpRequestException failure = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetByteArrayAsync("/abort", pair.Token));

        Exception? inner = failure.InnerException;
        while (inner is not (SocketException or null)) inner = inner.InnerException;
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(inner).SocketErrorCode);
    }
}
