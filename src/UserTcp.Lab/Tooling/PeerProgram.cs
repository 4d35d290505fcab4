using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace UserTcp.Lab;

/// <summary>
/// A program a run started — a kernel peer (curl, nc, python, bash), ip, ss, or the usertcp command itself — with
/// its standard input fed (bytes, or lines while it runs) and its output collected as it streams: kept as bytes (and
/// read as text or lines), or hashed with SHA-256 and counted for large downloads. Every wait is bounded; a program
/// past its time is killed by its pid with its children, and so is one still running at <see cref="Dispose"/>.
/// Started in a namespace through <see cref="ScratchNamespace.Start(ProcessStartInfo)"/>, which also ends it when the
/// namespace goes.
/// </summary>
public sealed class PeerProgram : IDisposable
{
    private readonly Process _process;
    // Stdout as it arrives (unless hashed) and stderr; guarded by _gate, which is pulsed whenever output arrives.
    private readonly object _gate = new();
    private readonly MemoryStream _output = new();
    private readonly MemoryStream _error = new();
    private readonly Task _readingOutput;
    private readonly Task _readingError;
    private readonly Task _writing;
    private bool _outputEnded;

    private PeerProgram(Process process, string commandLine, byte[]? input, bool keepInputOpen, bool hashOutput)
    {
        _process = process;
        CommandLine = commandLine;
        _readingOutput = Task.Run(() => Pump(process.StandardOutput.BaseStream, _output, hashOutput, ended: true));
        _readingError = Task.Run(() => Pump(process.StandardError.BaseStream, _error, hash: false, ended: false));
        _writing = keepInputOpen ? Task.CompletedTask : Task.Run(async () =>
        {
            try
            {
                if (input is not null) await process.StandardInput.BaseStream.WriteAsync(input).ConfigureAwait(false);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The program stopped reading (it exited); what it did with its input shows in its output.
            }
        });
    }

    /// <summary>Starts a program as the caller would (ProcessStartInfo → Process), e.g. a namespace's Start.</summary>
    public delegate Process? Starter(ProcessStartInfo startInfo);

    public string CommandLine { get; }
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>The exit code once the program has ended; -1 while it runs.</summary>
    public int ExitCode => _process.HasExited ? _process.ExitCode : -1;
    /// <summary>True when a wait ran out and the program was killed.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>With hashOutput: the SHA-256 of everything the program wrote to stdout (set once stdout has ended).</summary>
    public string? OutputSha256 { get; private set; }
    /// <summary>With hashOutput: how many bytes it wrote to stdout.</summary>
    public long OutputLength { get; private set; }

    /// <summary>What the program wrote to stdout so far.</summary>
    public byte[] Output
    {
        get
        {
            lock (_gate) return _output.ToArray();
        }
    }

    public string OutputText => Encoding.UTF8.GetString(Output);

    /// <summary>What it wrote to stderr so far.</summary>
    public string ErrorText
    {
        get
        {
            lock (_gate) return Encoding.UTF8.GetString(_error.ToArray());
        }
    }

    /// <summary>Complete lines of stdout so far (and the last, unterminated one once stdout has ended).</summary>
    public IReadOnlyList<string> OutputLines => Lines(OutputText, _outputEnded);

    /// <summary>Complete lines of stderr so far (the last one too once the program has ended).</summary>
    public IReadOnlyList<string> ErrorLines => Lines(ErrorText, _readingError.IsCompleted);

    /// <summary>Everything the program printed so far, for assertion messages and reports.</summary>
    public string Transcript => $"$ {CommandLine}\nstdout:\n{string.Join('\n', OutputLines)}\nstderr:\n{string.Join('\n', ErrorLines)}";

    /// <summary>Starts <paramref name="command"/> (program and arguments) in the caller's namespace.</summary>
    public static PeerProgram Start(params string[] command) => Start(command, Process.Start);

    /// <summary>
    /// Starts <paramref name="command"/> through <paramref name="starter"/>, with <paramref name="input"/> (or nothing) on stdin,
    /// which then closes unless <paramref name="keepInputOpen"/> (for <see cref="WriteInput"/>). With <paramref name="hashOutput"/>,
    /// stdout is hashed and counted as it streams rather than kept.
    /// </summary>
    public static PeerProgram Start(string[] command, Starter starter, byte[]? input = null, bool keepInputOpen = false, bool hashOutput = false)
    {
        ArgumentOutOfRangeException.ThrowIfZero(command.Length);
        ArgumentNullException.ThrowIfNull(starter);
        var start = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in command.Skip(1)) start.ArgumentList.Add(argument);
        Process process = starter(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        return new PeerProgram(process, string.Join(' ', command), input, keepInputOpen, hashOutput);
    }

    /// <summary>Runs a program to completion; one still running after <paramref name="timeout"/> is killed and a <see cref="TimeoutException"/> says so.</summary>
    public static PeerProgram Run(TimeSpan timeout, params string[] command) => Run(timeout, command, Process.Start);

    /// <summary>Runs a program through <paramref name="starter"/> to completion, at most <paramref name="timeout"/>.</summary>
    public static PeerProgram Run(TimeSpan timeout, string[] command, Starter starter)
    {
        PeerProgram program = Start(command, starter);
        if (!program.WaitForExit(timeout))
        {
            bool exited = program.HasExited;
            program.Dispose();
            string seconds = timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture);
            throw new TimeoutException(exited
                ? $"exited, but its output had not ended 5 s later (a child it left running holds it):\n{program.Transcript}"
                : $"still running after {seconds} s, killed:\n{program.Transcript}");
        }
        return program;
    }

    /// <summary>
    /// Waits for the program to end and its output to be read; false when the time ran out (it keeps running), or when
    /// its output had not ended 5 s after it did (a child it left running holds it: what it prints is not all in yet).
    /// </summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return false;
        return Task.WaitAll([_readingOutput, _readingError, _writing], TimeSpan.FromSeconds(5));
    }

    /// <summary>Waits for the program to end and its output to be read; kills it after <paramref name="timeout"/> (then <see cref="TimedOut"/>).</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            TimedOut = true;
            Kill();
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        await Task.WhenAll(_readingOutput, _readingError, _writing).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Waits until the program prints a matching line on stdout; false when it ended or the time ran out first.</summary>
    public bool WaitForOutputLine(Func<string, bool> match, TimeSpan timeout) => WaitFor(() => OutputLines.Any(match), timeout);

    /// <summary>Waits until the program prints a matching line on stderr; false when it ended or the time ran out first.</summary>
    public bool WaitForErrorLine(Func<string, bool> match, TimeSpan timeout) => WaitFor(() => ErrorLines.Any(match), timeout);

    /// <summary>Waits until stdout contains <paramref name="marker"/>; false when the program ended or the time ran out first.</summary>
    public async Task<bool> WaitForOutputAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Polled, not waited on a pool thread: the demo and the bench run a stack in this process, whose timers need the pool.
        long start = Stopwatch.GetTimestamp();
        while (!OutputText.Contains(marker, StringComparison.Ordinal))
        {
            if (Stopwatch.GetElapsedTime(start) >= timeout || OutputComplete)
            {
                return OutputText.Contains(marker, StringComparison.Ordinal);
            }
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
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

    /// <summary>One line saying how the program failed: its exit code, or that it ran out of time, and the first line of stderr.</summary>
    public string Failure()
    {
        string first = ErrorText.Trim().Split('\n', 2)[0];
        string how = TimedOut ? "ran out of time" : $"exited with {ExitCode.ToString(CultureInfo.InvariantCulture)}";
        return first.Length > 0 ? $"{how}: {first}" : how;
    }

    /// <summary>Asks the program to stop (SIGTERM, by its pid) and waits for it and its output; false when it did not end in time.</summary>
    public bool Terminate(TimeSpan timeout)
    {
        if (!_process.HasExited && ExternalProgram.Find("kill") is string kill)
        {
            ExternalProgram.Run(kill, timeout, "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
        }
        return WaitForExit(timeout);
    }

    /// <summary>Ends the program and its children at once (SIGKILL), by pid; its sockets are closed by the kernel.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (InvalidOperationException)
        {
            // It ended meanwhile.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private async Task Pump(Stream source, MemoryStream sink, bool hash, bool ended)
    {
        byte[] buffer = new byte[64 * 1024];
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            int read;
            while ((read = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                if (hash)
                {
                    digest.AppendData(buffer, 0, read);
                    OutputLength += read;
                    continue;
                }
                lock (_gate)
                {
                    sink.Write(buffer, 0, read);
                    Monitor.PulseAll(_gate);
                }
            }
            if (hash) OutputSha256 = Convert.ToHexStringLower(digest.GetHashAndReset());
        }
        finally
        {
            lock (_gate)
            {
                if (ended) _outputEnded = true;
                Monitor.PulseAll(_gate);
            }
        }
    }

    // Both streams have ended: nothing more will be printed.
    private bool OutputComplete => _outputEnded && _readingError.IsCompleted;

    private bool WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero || OutputComplete) return condition();
            lock (_gate) Monitor.Wait(_gate, left < TimeSpan.FromMilliseconds(50) ? left : TimeSpan.FromMilliseconds(50));
        }
        return true;
    }

    private static string[] Lines(string text, bool complete)
    {
        string[] lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        // The piece after the last newline is a line only once the stream has ended (and it is not empty).
        return complete && lines[^1].Length > 0 ? lines : lines[..^1];
    }
}
