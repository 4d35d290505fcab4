using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp connect HOST PORT`: netcat over UserTcp. Brings up its own TUN interface and stack, connects, copies stdin
/// to the connection and the connection to stdout; at the end of stdin it half-closes (Shutdown(Send)) and keeps
/// reading until the peer closes, as `nc -N` does.
/// </summary>
internal static class ConnectCommand
{
    public static Command Create()
    {
        var stackOptions = new StackOptionSet(LogLevel.Warning);
        var host = new Argument<Ipv4Address>("HOST")
        {
            Description = "IPv4 address to connect to, e.g. the kernel's side 10.77.0.1 (UserTcp has no DNS)",
            CustomParser = OptionParsers.Text<Ipv4Address>(ParseHost),
        };
        var port = new Argument<int>("PORT")
        {
            Description = "TCP port, 1 to 65535",
            CustomParser = OptionParsers.Int("PORT", 1, 65535),
        };
        var connectTimeout = ConnectTimeoutOption();
        var fastOpen = FastOpenCookieFile.Option();

        var command = new Command("connect",
            "Netcat over UserTcp: create a TUN interface, run a UserTcp stack at --address behind it, connect to HOST:PORT, "
            + "copy stdin to the connection and the connection to stdout. At the end of stdin the sending side is shut "
            + "(a FIN) and reading goes on until the peer closes, like nc -N. Exits 0 on a clean close, 1 when refused, "
            + "reset or timed out. Run it in a namespace of its own: ip netns exec demo usertcp connect 10.77.0.1 5000")
        {
            host,
            port,
            connectTimeout,
            fastOpen,
        };
        stackOptions.AddTo(command);
        command.Validators.Add(result =>
        {
            // The host's own parse error (if any) is reported already; read its token rather than its value, which would throw.
            string? address = result.GetResult(stackOptions.Address) is { Tokens: [var given] } ? given.Value : StackOptionSet.DefaultAddress;
            if (result.GetResult(host) is { Tokens: [var token] } && Ipv4Address.TryParse(token.Value, out Ipv4Address target)
                && Ipv4Address.TryParse(address, out Ipv4Address own) && target == own)
            {
                result.AddError($"HOST {target} is UserTcp's own --address: connect to the kernel's side, e.g. 10.77.0.1");
            }
        });
        command.SetAction(parsed => CliErrors.Run("connect", () => RunAsync(
            stackOptions.Read(parsed),
            new IpEndpoint(parsed.GetValue(host), (ushort)parsed.GetValue(port)),
            TimeSpan.FromSeconds(parsed.GetValue(connectTimeout)),
            parsed.GetValue(fastOpen))));
        return command;
    }

    internal static Option<double> ConnectTimeoutOption() => new("--connect-timeout")
    {
        Description = "Seconds to wait for the connection to be established",
        DefaultValueFactory = _ => 30,
        CustomParser = OptionParsers.Seconds("--connect-timeout", 3600),
    };

    internal static string? ParseHost(string text, out Ipv4Address value) =>
        Ipv4Address.TryParse(text, out value) ? null : $"HOST '{text}' is not an IPv4 address: write it as a.b.c.d (UserTcp has no DNS), e.g. 10.77.0.1";

    private static async Task<int> RunAsync(StackSettings settings, IpEndpoint remote, TimeSpan connectTimeout, bool fastOpen)
    {
        using var signal = new StopSignal();
        await using CommandStack live = CommandStack.Start(settings, new TcpConfig());
        if (fastOpen) FastOpenCookieFile.Load(live.Stack.FastOpenCookies, FastOpenCookieFile.DefaultPath);
        try
        {
            return await SessionAsync(live, remote, connectTimeout, fastOpen, signal).ConfigureAwait(false);
        }
        finally
        {
            if (fastOpen) FastOpenCookieFile.Save(live.Stack.FastOpenCookies, FastOpenCookieFile.DefaultPath);
        }
    }

    private static async Task<int> SessionAsync(CommandStack live, IpEndpoint remote, TimeSpan connectTimeout, bool fastOpen, StopSignal signal)
    {
        UserTcpConnection connection = await OpenAsync(live.Stack, remote, connectTimeout, signal.Token, fastOpen).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            connection.NoDelay = true; // interactive, as nc
            Task upload = Task.Run(() => CopyStdinAsync(connection, signal.Token), CancellationToken.None);
            try
            {
                await CopyToStdoutAsync(connection, signal.Token).ConfigureAwait(false);
                // The peer has closed its side. Like nc, a piped stdin is still sent to its end (the peer may only have
                // half-closed); an interactive one is not waited for — a peer that closes first (daytime) ends the session.
                if (Console.IsInputRedirected) await upload.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
            {
                return 130; // Ctrl-C: the connection closes with a FIN as we leave
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) // EBADF (stdout closed) reads as access denied
            {
                // stdout was closed under us (`usertcp connect ... | head`): stop quietly, as a pipeline expects.
                return 0;
            }
        }
        return 0;
    }

    /// <summary>Connects, turning refusal, timeout and Ctrl-C into one line each.</summary>
    internal static async Task<UserTcpConnection> OpenAsync(NetStack stack, IpEndpoint remote, TimeSpan timeout, CancellationToken stop, bool fastOpen = false)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(timeout);
        try
        {
            // With a cookie cached, Fast Open's connect returns at once: the first write (stdin's) carries the SYN.
            return await stack.ConnectAsync(remote, fastOpen ? new UserTcpConnectionOptions { FastOpenConnect = true } : null, deadline.Token).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new CliException(1, $"connection to {remote} failed: {CliErrors.Describe(e.SocketErrorCode)}");
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            throw new CliException(1, string.Create(CultureInfo.InvariantCulture,
                $"connection to {remote} timed out after {timeout.TotalSeconds} s (nothing answered the SYN)"));
        }
        catch (OperationCanceledException)
        {
            throw new CliException(130, $"connection to {remote} interrupted");
        }
    }

    private static async Task CopyStdinAsync(UserTcpConnection connection, CancellationToken stop)
    {
        using Stream stdin = Console.OpenStandardInput();
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await stdin.ReadAsync(buffer, stop).ConfigureAwait(false)) > 0)
        {
            await connection.WriteAsync(buffer.AsMemory(0, read), stop).ConfigureAwait(false);
        }
        connection.Shutdown(SocketShutdown.Send); // like nc -N: the end of stdin is a FIN; reading goes on
    }

    private static async Task CopyToStdoutAsync(UserTcpConnection connection, CancellationToken stop)
    {
        using Stream stdout = StandardOutput.Open(); // a closed pipe throws IOException, which ends the session
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await connection.ReadAsync(buffer, stop).ConfigureAwait(false)) > 0)
        {
            await stdout.WriteAsync(buffer.AsMemory(0, read), stop).ConfigureAwait(false);
            await stdout.FlushAsync(stop).ConfigureAwait(false);
        }
    }
}
