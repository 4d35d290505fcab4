using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>A Fast Open listener (RFC 7413 §4.2.2) through the socket API: the README's example, compiled and run.</summary>
public sealed class FastOpenListenerTests
{
    // FastOpenServerCookies' cookie for the README's key and 10.77.0.1 → 10.77.0.2 (FastOpenServerTests checks the cookie
    // function against Linux's): the client holds it as a kernel client would after one connection.
    private static readonly byte[] ReadmeCookie = Convert.FromHexString("ed1e6f3aa9bdaf61");

    [Fact]
    public async Task The_readme_listener_example_takes_the_request_from_the_syn_and_answers_and_the_readme_shows_it_as_compiled()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        IPacketDevice tun = pipe.A;
        await using NetStack client = NetStack.Start(pipe.B, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.1") });
        byte[] request = "GET / HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n"u8.ToArray();
        byte[] response = "HTTP/1.1 204 No Content\r\n\r\n"u8.ToArray();
        byte[] buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task<(bool SynData, int Read)> serving = Task.Run(Example, timeout.Token);

        // Connect once the example listens (until then its stack refuses): the cookie makes the request ride in the SYN.
        UserTcpConnection? connection = null;
        for (int attempt = 0; attempt < 300 && connection is null; attempt++)
        {
            Assert.False(serving.IsCompleted && serving.IsFaulted, serving.Exception?.ToString());
            client.FastOpenCookies.Put(Ipv4Address.Parse("10.77.0.2"), new FastOpenCacheEntry(ReadmeCookie, false, 1460, 0, default, 0));
            UserTcpConnection attemptConnection = await client.ConnectAsync(new IpEndpoint(Ipv4Address.Parse("10.77.0.2"), 80), new UserTcpConnectionOptions { FastOpenConnect = true }, timeout.Token);
            try
            {
                await attemptConnection.WriteAsync(request, timeout.Token);
                connection = attemptConnection;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                await attemptConnection.DisposeAsync();
                await Task.Delay(10, timeout.Token);
            }
        }
        Assert.NotNull(connection);
        await using (connection)
        {
            Assert.True(connection.FastOpenSynDataAcknowledged); // the server took the request from the SYN
            int got = 0;
            while (got < response.Length)
            {
                int n = await connection.ReadAsync(buffer.AsMemory(got), timeout.Token);
                Assert.True(n > 0, "end of stream before the response");
                got += n;
            }
            Assert.Equal(response, buffer[..got]);
        }
        (bool synData, int read) = await serving;
        Assert.True(synData);
        Assert.Equal(request.Length, read);
        Assert.Contains(ReadmeSource.Region(Path.Combine("tests", "UserTcp.Sockets.Tests", "FastOpenListenerTests.cs"), "fastopen-listener"), ReadmeSource.CSharpBlocks());

        async Task<(bool, int)> Example()
        {
            byte[] buffer = new byte[1024];
            // readme: fastopen-listener
            var tcp = new TcpConfig { FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4") };
            await using NetStack stack = NetStack.Start(tun, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.2"), Tcp = tcp });
            using UserTcpListener listener = stack.Listen(80, options: new UserTcpConnectionOptions { FastOpenQueueLength = 64 });
            await using UserTcpConnection connection = await listener.AcceptAsync(); // with a valid cookie: before the handshake's ACK
            bool synData = connection.Info().FastOpenSynData;                        // TCPI_OPT_SYN_DATA: the SYN's data is readable
            int read = await connection.ReadAsync(buffer);
            await connection.WriteAsync(response);                                   // goes at once, before the handshake's ACK too
            // readme: end
            await connection.FlushAsync(timeout.Token);
            return (synData, read);
        }
    }
}
