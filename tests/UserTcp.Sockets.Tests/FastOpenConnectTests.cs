using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>UserTcpConnectionOptions.FastOpenConnect (TCP_FASTOPEN_CONNECT) on a pumped pair, the client's side of RFC 7413.</summary>
public sealed class FastOpenConnectTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);
    private static readonly UserTcpConnectionOptions FastOpen = new() { FastOpenConnect = true };

    [Fact]
    public async Task Without_a_cookie_connecting_waits_for_the_handshake_as_usual()
    {
        await using var net = new PumpedPair();
        UserTcpListener listener = net.Server.Listen(80);
        Task<UserTcpConnection> connecting = net.Client.ConnectAsync(Server80, FastOpen);
        Assert.False(connecting.IsCompleted); // the SYN asks for a cookie; the handshake is waited for
        net.Pump();
        UserTcpConnection client = await connecting;
        Assert.Equal(TcpState.Established, client.State);
        Assert.False(client.FastOpenSynDataAcknowledged);
        listener.Dispose();
    }

    [Fact]
    public async Task With_a_cookie_connecting_completes_at_once_and_the_first_write_waits_for_the_handshake_and_loses_nothing()
    {
        await using var net = new PumpedPair();
        UserTcpListener listener = net.Server.Listen(80);
        // A cookie the server never gave (it has no Fast Open): the SYN's data is ignored there, acknowledged only after.
        net.Client.FastOpenCookies.Put(PumpedPair.ServerAddress, new FastOpenCacheEntry([1, 2, 3, 4], false, 1460, 0, default, 0));
        Task<UserTcpConnection> connecting = net.Client.ConnectAsync(Server80, FastOpen);
        Assert.True(connecting.IsCompletedSuccessfully); // nothing to wait for: the SYN waits for the first write
        UserTcpConnection client = await connecting;
        Assert.True(client.FastOpenAwaitsData);
        Assert.Equal(UserTcpPollEvents.Out, client.Poll() & UserTcpPollEvents.Out); // writable, as Linux's DEFER_CONNECT
        Assert.False(net.Pipe.A.TryRead(new byte[1500], out _)); // and no packet yet

        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        byte[] request = new byte[3000];
        Random.Shared.NextBytes(request);
        ValueTask write = client.WriteAsync(request);
        Assert.False(write.IsCompleted); // a blocking Fast Open write returns with the handshake
        net.Pump();
        Assert.True(write.IsCompletedSuccessfully);
        UserTcpConnection server = await accepted;
        byte[] got = new byte[4000];
        int total = 0;
        while (total < request.Length)
        {
            int n = server.Receive(got.AsSpan(total), out SocketError error);
            Assert.Equal(SocketError.Success, error);
            total += n;
        }
        Assert.Equal(request, got[..total]); // each byte once, in order
        Assert.Equal(1, net.Client.Counters[MibCounter.TcpExtTCPFastOpenActiveFail]);
        listener.Dispose();
    }

    [Fact]
    public async Task The_readme_example_sends_its_request_in_the_syn_once_a_cookie_is_cached_and_the_readme_shows_it_as_compiled()
    {
        await using var net = new PumpedPair();
        UserTcpListener listener = net.Server.Listen(80);
        NetStack stack = net.Client;
        IpEndpoint server = Server80;
        byte[] request = "GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n"u8.ToArray();
        stack.FastOpenCookies.Put(PumpedPair.ServerAddress, new FastOpenCacheEntry([1, 2, 3, 4], false, 1460, 0, default, 0));
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        Task example = Example();
        net.Pump();
        await example;
        Assert.NotNull(await accepted);
        Assert.Contains(ReadmeSource.Region(Path.Combine("tests", "UserTcp.Sockets.Tests", "FastOpenConnectTests.cs"), "fastopen"), ReadmeSource.CSharpBlocks());
        listener.Dispose();

        async Task Example()
        {
            // readme: fastopen
            var options = new UserTcpConnectionOptions { FastOpenConnect = true };
            await using UserTcpConnection connection = await stack.ConnectAsync(server, options);
            await connection.WriteAsync(request); // with a cookie cached, the SYN carries the cookie and the request
            bool inSyn = connection.FastOpenSynDataAcknowledged; // TCPI_OPT_SYN_DATA: the server took the data in the SYN
            // readme: end
            Assert.False(inSyn); // this server has no Fast Open: it acknowledged only the SYN, and the request went again
        }
    }

    [Fact]
    public async Task A_non_blocking_write_to_a_syn_waiting_for_data_takes_what_the_syn_carries()
    {
        await using var net = new PumpedPair();
        UserTcpListener listener = net.Server.Listen(80);
        net.Client.FastOpenCookies.Put(PumpedPair.ServerAddress, new FastOpenCacheEntry([1, 2, 3, 4], false, 940, 0, default, 0));
        UserTcpConnection client = net.Client.Connect(Server80, FastOpen);
        Assert.Equal(900, client.Send(new byte[2000], out SocketError error)); // the cached MSS less 40 bytes
        Assert.Equal(SocketError.Success, error);
        Assert.Equal(0, client.Send(new byte[10], out error)); // the SYN is on its way: EAGAIN until established
        Assert.Equal(SocketError.WouldBlock, error);
        listener.Dispose();
    }
}
