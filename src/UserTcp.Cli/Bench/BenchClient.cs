using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace UserTcp.Cli.Bench;

/// <summary>
/// `usertcp bench-client` (hidden): the kernel-socket client `usertcp bench` runs in its client namespace, in a process of
/// its own so that neither side shares a garbage collector with it. Each workload talks to an echo server (port 7):
/// <list type="bullet">
/// <item>rr: one connection (TCP_NODELAY), one byte there and back, as often as it can for the given seconds.</item>
/// <item>cc: connect, one byte there and back, close with a reset (SO_LINGER 0, as the lwIP harness's tcpload), repeated.</item>
/// <item>held: opens N connections, one byte there and back on each; says "opened", waits for a line on stdin, echoes one
/// byte on each again, says "echoed", then resets them all.</item>
/// </list>
/// Prints one "result COUNT SECONDS" line (rr, cc) or the held lines; a failure is one line on stderr and exit 1.
/// `usertcp bench-client echo-server ADDRESS 0` is the kernel's side instead: an echo server on port 7 of ADDRESS
/// (<see cref="KernelEchoServer"/>) that says "ready" and serves until its standard input closes.
/// </summary>
internal static class BenchClient
{
    public static Command Create()
    {
        var workload = new Argument<string>("workload") { Description = "rr, cc, held or echo-server" };
        var address = new Argument<string>("address");
        var amount = new Argument<double>("amount") { Description = "seconds (rr, cc) or connections (held)" };
        var command = new Command("bench-client", "The kernel-socket client of usertcp bench (used by it; not for direct use)")
        {
            workload,
            address,
            amount,
        };
        command.Hidden = true;
        command.SetAction(parsed =>
        {
            var server = new IPEndPoint(IPAddress.Parse(parsed.GetRequiredValue(address)), EchoPort);
            double value = parsed.GetValue(amount);
            try
            {
                switch (parsed.GetRequiredValue(workload))
                {
                    case "rr": Report(RequestResponse(server, TimeSpan.FromSeconds(value))); return 0;
                    case "cc": Report(ConnectClose(server, TimeSpan.FromSeconds(value))); return 0;
                    case "held": Held(server, (int)value); return 0;
                    case "echo-server": Serve(server.Address); return 0;
                    default: Console.Error.WriteLine("usertcp bench-client: the workload is rr, cc, held or echo-server"); return 2;
                }
            }
            catch (SocketException e)
            {
                Console.Error.WriteLine($"usertcp bench-client: {e.SocketErrorCode}: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    public const int EchoPort = 7;

    private static void Report((long Count, TimeSpan Elapsed) result) =>
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"result {result.Count} {result.Elapsed.TotalSeconds:F6}"));

    private static (long, TimeSpan) RequestResponse(IPEndPoint server, TimeSpan duration)
    {
        using Socket socket = Connect(server);
        byte[] one = [1];
        long count = 0;
        long start = Stopwatch.GetTimestamp();
        TimeSpan elapsed;
        while ((elapsed = Stopwatch.GetElapsedTime(start)) < duration)
        {
            Exchange(socket, one);
            count++;
        }
        return (count, elapsed);
    }

    private static (long, TimeSpan) ConnectClose(IPEndPoint server, TimeSpan duration)
    {
        byte[] one = [1];
        long count = 0;
        long start = Stopwatch.GetTimestamp();
        TimeSpan elapsed;
        while ((elapsed = Stopwatch.GetElapsedTime(start)) < duration)
        {
            using Socket socket = Connect(server);
            Exchange(socket, one);
            Reset(socket);
            count++;
        }
        return (count, elapsed);
    }

    private static void Held(IPEndPoint server, int connections)
    {
        var sockets = new List<Socket>(connections);
        byte[] one = [1];
        try
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < connections; i++)
            {
                sockets.Add(Connect(server));
                Exchange(sockets[^1], one);
            }
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"opened {connections} {Stopwatch.GetElapsedTime(start).TotalSeconds:F6}"));
            Console.Out.Flush();
            Console.In.ReadLine();
            foreach (Socket socket in sockets) Exchange(socket, one);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"echoed {sockets.Count}"));
        }
        finally
        {
            foreach (Socket socket in sockets)
            {
                Reset(socket);
                socket.Dispose();
            }
        }
    }

    private static void Serve(IPAddress address)
    {
        using var stop = new CancellationTokenSource();
        Task serving = KernelEchoServer.Listen(address).RunAsync(stop.Token);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        while (Console.In.ReadLine() is not null)
        {
            // Serve until the bench closes our standard input (or ends us with the namespace).
        }
        stop.Cancel();
        serving.Wait(TimeSpan.FromSeconds(5));
    }

    private static Socket Connect(IPEndPoint server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Connect(server);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // One byte there and back; the echo must return exactly it.
    private static void Exchange(Socket socket, byte[] one)
    {
        socket.Send(one);
        Span<byte> answer = stackalloc byte[1];
        if (socket.Receive(answer) != 1 || answer[0] != one[0])
        {
            throw new SocketException((int)SocketError.ConnectionReset, "the echo server closed or answered something else");
        }
    }

    // SO_LINGER 0: close sends a reset and leaves no TIME-WAIT behind, so ports are free for the next connect at once.
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already reset by the peer: nothing to linger over.
        }
        socket.Close();
    }
}
