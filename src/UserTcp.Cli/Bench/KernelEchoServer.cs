using System.Net;
using System.Net.Sockets;

namespace UserTcp.Cli.Bench;

/// <summary>
/// The kernel's echo server for `usertcp bench` (RFC 862 on port 7), run by `usertcp bench-client echo-server` in a
/// process of its own inside the peer namespace: async accept and receive/send loops on kernel sockets, with TCP_NODELAY
/// like the lwIP harness's kernel server. The bench starts it with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1, so
/// each completion runs on the socket engine's epoll thread: an event loop like the harness's epoll server, with no
/// thread-pool hop between a packet and its answer.
/// </summary>
internal sealed class KernelEchoServer(Socket listener)
{
    public static KernelEchoServer Listen(IPAddress address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, BenchClient.EchoPort));
            socket.Listen(4096);
            return new KernelEchoServer(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Accepts and echoes until <paramref name="stop"/>; then closes the listener (connections end with the process).</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using (listener)
        {
            while (true)
            {
                Socket connection;
                try
                {
                    connection = await listener.AcceptAsync(stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                connection.NoDelay = true;
                _ = EchoAsync(connection, stop);
            }
        }
    }

    private static async Task EchoAsync(Socket connection, CancellationToken stop)
    {
        byte[] buffer = new byte[64 * 1024];
        using (connection)
        {
            try
            {
                int read;
                while ((read = await connection.ReceiveAsync(buffer, SocketFlags.None, stop).ConfigureAwait(false)) > 0)
                {
                    for (int sent = 0; sent < read;)
                    {
                        sent += await connection.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, stop).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                // A reset from the client (cc, held) or the end of the bench.
            }
        }
    }
}
