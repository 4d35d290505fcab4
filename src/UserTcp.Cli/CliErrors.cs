using System.Net.Sockets;

namespace UserTcp.Cli;

/// <summary>Runs a command's body and turns the failures it expects into one line on stderr and an exit code.</summary>
internal static class CliErrors
{
    /// <summary>
    /// Runs <paramref name="body"/> to completion on this thread (a synchronous action, so that System.CommandLine does
    /// not install its own Ctrl-C handling, which ends the process two seconds after the signal: our commands stop
    /// cleanly through <see cref="StopSignal"/> instead). TUN refusals go on to Program's handler (exit 1).
    /// </summary>
    public static int Run(string command, Func<Task<int>> body)
    {
        try
        {
            return body().GetAwaiter().GetResult();
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"usertcp {command}: {e.Message}");
            return e.ExitCode;
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"usertcp {command}: {Describe(e.SocketErrorCode)}");
            return 1;
        }
    }

    public static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.ConnectionReset => "connection reset by peer",
        SocketError.TimedOut => "connection timed out (no answer to retransmissions)",
        SocketError.ConnectionAborted => "connection aborted",
        SocketError.Shutdown => "broken pipe (the connection is shut down for sending, or the peer reset it after closing its side)",
        SocketError.AddressAlreadyInUse => "address already in use",
        _ => error.ToString(),
    };
}
