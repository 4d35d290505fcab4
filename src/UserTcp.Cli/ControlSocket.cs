using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using UserTcp.Services;
using UserTcp.Live;
using UserTcp.Sockets;
using UserTcp.Tun;

namespace UserTcp.Cli;

/// <summary>
/// How `usertcp ss` reads the connection table of a running `usertcp serve`: serve listens on an abstract Unix
/// domain socket named <c>@usertcp/IFACE</c>; ss connects, sends one line ("table" or "json"), and prints the answer.
/// Abstract names live in the network namespace the socket was made in (unix(7)), so the table of a serve in
/// namespace NS is found by running ss in NS too (`ip netns exec NS usertcp ss`, or `usertcp ss --netns NS`) — just
/// as the kernel's own `ss` shows the sockets of the namespace it runs in — and two serves in two namespaces may both
/// use utcp0. Nothing is left on disk, so a serve that crashed leaves no stale socket file to clean up.
/// </summary>
internal static class ControlSocket
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The name as ss -xl prints it.</summary>
    public static string DisplayName(string iface) => $"@usertcp/{iface}";

    private static UnixDomainSocketEndPoint EndPoint(string iface) => new($"\0usertcp/{iface}");

    /// <summary>Starts answering table requests for <paramref name="live"/>'s stack; null (and a warning) when the name is taken.</summary>
    public static Server? TryServe(string iface, string? netns, LiveStack live, ILogger logger)
    {
        try
        {
            Socket listener = InNamespace(netns, () =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    socket.Bind(EndPoint(iface));
                    socket.Listen(8);
                    return socket;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            });
            return new Server(listener, live);
        }
        catch (SocketException e)
        {
            CliLog.ControlSocketUnavailable(logger, DisplayName(iface), e.Message);
            return null;
        }
    }

    /// <summary>Asks the serve on <paramref name="iface"/> for its table; null when none answers there.</summary>
    public static string? TryQuery(string iface, string? netns, string request)
    {
        using var cancel = new CancellationTokenSource(RequestTimeout);
        Socket socket;
        try
        {
            socket = InNamespace(netns, () =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    s.Connect(EndPoint(iface));
                    return s;
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            });
        }
        catch (SocketException)
        {
            return null;
        }
        using (socket)
        {
            socket.Send(Encoding.ASCII.GetBytes(request + "\n"));
            using var stream = new NetworkStream(socket, ownsSocket: false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEndAsync(cancel.Token).GetAwaiter().GetResult();
        }
    }

    /// <summary>Namespaces (from ip netns list) in which a serve answers for <paramref name="iface"/>; empty without the rights to look.</summary>
    public static IReadOnlyList<string> FindNamespaces(string iface)
    {
        if (!Directory.Exists(NetworkNamespace.RunDirectory)) return [];
        var found = new List<string>();
        foreach (string path in Directory.EnumerateFiles(NetworkNamespace.RunDirectory).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(path);
            try
            {
                if (TryQuery(iface, name, "ping") is not null) found.Add(name);
            }
            catch (Exception e) when (e is TunException or IOException or SocketException or OperationCanceledException)
            {
                // Not ours to enter, or nothing there.
            }
        }
        return found;
    }

    private static T InNamespace<T>(string? netns, Func<T> action) => netns is null ? action() : NetworkNamespace.Invoke(netns, action);

    /// <summary>Answers each connection with the table and closes it; stops when disposed.</summary>
    internal sealed class Server : IDisposable
    {
        private readonly Socket _listener;
        private readonly LiveStack _live;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public Server(Socket listener, LiveStack live)
        {
            _listener = listener;
            _live = live;
            _accepting = Task.Run(AcceptLoop);
        }

        private async Task AcceptLoop()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(() => AnswerAsync(client));
            }
        }

        private async Task AnswerAsync(Socket client)
        {
            using (client)
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                timeout.CancelAfter(RequestTimeout);
                try
                {
                    byte[] buffer = new byte[64];
                    int length = 0;
                    while (length < buffer.Length && Array.IndexOf(buffer, (byte)'\n', 0, length) < 0)
                    {
                        int n = await client.ReceiveAsync(buffer.AsMemory(length), timeout.Token).ConfigureAwait(false);
                        if (n == 0) break;
                        length += n;
                    }
                    string request = Encoding.ASCII.GetString(buffer, 0, length).Trim();
                    string answer = request switch
                    {
                        "table" => ConnectionTable.Format(ConnectionTable.Collect(_live.Stack)),
                        "json" => ConnectionTable.ToJson(ConnectionTable.Collect(_live.Stack)),
                        "stats" => CounterTable.Format(_live, zeros: false),
                        "stats-zeros" => CounterTable.Format(_live, zeros: true),
                        "stats-json" => CounterTable.ToJson(_live),
                        "ping" => "pong\n",
                        _ => $"error: unknown request '{request}' (ask for table, json, stats, stats-zeros or stats-json)\n",
                    };
                    await client.SendAsync(Encoding.UTF8.GetBytes(answer), timeout.Token).ConfigureAwait(false);
                    client.Shutdown(SocketShutdown.Send);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    // A client that went away or took too long; or the stack stopped while we answered.
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Dispose();
            _accepting.Wait(TimeSpan.FromSeconds(2));
            _stop.Dispose();
        }
    }
}
