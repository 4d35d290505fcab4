using System.Diagnostics;

namespace UserTcp.Integration.Tests;

/// <summary>
/// A program the tests started (a kernel peer, ip, the usertcp CLI), with its output collected line by
/// line. Disposing kills it, by its own pid and its children, if it is still running.
/// </summary>
public sealed class PeerProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly List<string> _error = [];
    // Guards _output and _error; pulsed whenever a line arrives.
    private readonly object _lines = new();

    private PeerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public string CommandLine { get; private init; } = "";

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> OutputLines
    {
        get
        {
            lock (_lines)
            {
                return [.. _output];
            }
        }
    }

    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_lines)
            {
                return [.. _error];
            }
        }
    }

    /// <summary>Everything the program printed so far, for assertion messages.</summary>
    public string Transcript => $"$ {CommandLine}\nstdout:\n{string.Join('\n', OutputLines)}\nstderr:\n{string.Join('\n', ErrorLines)}";

    public static PeerProcess Start(params string[] command) => Start(command, Process.Start);

    /// <summary>
    /// Starts <paramref name="command"/> through <paramref name="starter"/> (e.g. a namespace's Start), collecting its output.
    /// Standard input is closed at once unless <paramref name="keepInputOpen"/>.
    /// </summary>
    public static PeerProcess Start(string[] command, Func<ProcessStartInfo, Process?> starter, bool keepInputOpen = false)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        Process process = starter(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        var peer = new PeerProcess(process) { CommandLine = string.Join(' ', command) };
        process.OutputDataReceived += (_, e) => peer.Add(peer._output, e.Data);
        process.ErrorDataReceived += (_, e) => peer.Add(peer._error, e.Data);
        if (!keepInputOpen)
        {
            process.StandardInput.Close();
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Runs a program to completion; one still running after <paramref name="timeout"/> is killed and the test fails.</summary>
    public static PeerProcess Run(TimeSpan timeout, params string[] command)
    {
        PeerProcess peer = Start(command);
        if (!peer.WaitForExit(timeout))
        {
            peer.Dispose();
            throw new TimeoutException($"still running after {timeout.TotalSeconds} s, killed:\n{peer.Transcript}");
        }
        return peer;
    }

    /// <summary>The full path of an executable on PATH (or in the sbin directories), or null.</summary>
    public static string? FindExecutable(string name) => UserTcp.Tun.ExternalProgram.Find(name);

    /// <summary>Waits for the program to end and for its output to be read; false when the time ran out.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }
        // The parameterless overload also waits until the redirected streams reach end of file.
        _process.WaitForExit();
        return true;
    }

    /// <summary>Writes a line to the program's standard input (started with keepInputOpen).</summary>
    public void WriteInput(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Closes the program's standard input: it reads end of file.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Ends the program at once (SIGKILL), by its pid; its sockets are closed by the kernel.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit(TimeSpan.FromSeconds(10));
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Asks the program to stop (SIGTERM, by its pid) and waits for it and its output; false when it did not end in time.</summary>
    public bool Terminate(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            using PeerProcess kill = Run(timeout, "kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return WaitForExit(timeout);
    }

    /// <summary>Waits until the program prints a matching line on stderr; false when the time ran out.</summary>
    public bool WaitForErrorLine(Func<string, bool> match, TimeSpan timeout) => WaitForLine(_error, match, timeout);

    /// <summary>Waits until the program prints a matching line on stdout; false when the time ran out.</summary>
    public bool WaitForOutputLine(Func<string, bool> match, TimeSpan timeout) => WaitForLine(_output, match, timeout);

    private bool WaitForLine(List<string> lines, Func<string, bool> match, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        lock (_lines)
        {
            while (!lines.Any(match))
            {
                TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }
                Monitor.Wait(_lines, left);
            }
            return true;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Add(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lines)
        {
            lines.Add(line);
            Monitor.PulseAll(_lines);
        }
    }
}
