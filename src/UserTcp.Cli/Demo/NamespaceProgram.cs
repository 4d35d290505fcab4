using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using UserTcp.Tun;

namespace UserTcp.Cli.Demo;

/// <summary>
/// A kernel program the demo runs inside its namespace (curl, nc, bash, ss), with its standard input fed from
/// bytes, and its output collected as bytes. Every wait is bounded; a program past its time is killed (by pid,
/// with its children), and the namespace kills whatever is left when it is removed.
/// </summary>
internal sealed class NamespaceProgram : IDisposable
{
    private readonly Process _process;
    private readonly MemoryStream _output = new();
    private readonly Task _reading;
    private readonly Task<string> _error;
    private readonly Task _writing;

    private NamespaceProgram(Process process, byte[]? input, bool hashOutput, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
        _reading = Task.Run(async () =>
        {
            byte[] buffer = new byte[64 * 1024];
            int read;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while ((read = await process.StandardOutput.BaseStream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                if (hashOutput)
                {
                    hash.AppendData(buffer, 0, read);
                    OutputLength += read;
                    continue;
                }
                lock (_output)
                {
                    _output.Write(buffer, 0, read);
                }
            }
            if (hashOutput)
            {
                OutputSha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
        });
        _error = process.StandardError.ReadToEndAsync();
        _writing = Task.Run(async () =>
        {
            try
            {
                if (input is not null)
                {
                    await process.StandardInput.BaseStream.WriteAsync(input).ConfigureAwait(false);
                }
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The program stopped reading (it exited); what it did with its input shows in its output.
            }
        });
    }

    public string CommandLine { get; }

    /// <summary>With hashOutput: the SHA-256 of everything the program wrote to stdout (set once it has ended).</summary>
    public string? OutputSha256 { get; private set; }

    /// <summary>With hashOutput: how many bytes it wrote to stdout.</summary>
    public long OutputLength { get; private set; }
    public int Id => _process.Id;
    public int ExitCode => _process.HasExited ? _process.ExitCode : -1;
    public bool TimedOut { get; private set; }

    /// <summary>What the program wrote to stdout so far.</summary>
    public byte[] Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToArray();
            }
        }
    }

    public string OutputText => Encoding.UTF8.GetString(Output);

    /// <summary>What it wrote to stderr (complete once it has exited).</summary>
    public string ErrorText => _error.IsCompletedSuccessfully ? _error.Result : "";

    /// <summary>
    /// Starts <paramref name="command"/> in the namespace with <paramref name="input"/> (or nothing) on stdin. With
    /// <paramref name="hashOutput"/>, stdout is hashed and counted as it streams rather than kept.
    /// </summary>
    public static NamespaceProgram Start(ScratchNamespace ns, byte[]? input, params string[] command) => Start(ns, input, false, command);

    public static NamespaceProgram Start(ScratchNamespace ns, byte[]? input, bool hashOutput, params string[] command)
    {
        var start = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        return new NamespaceProgram(ns.Start(start), input, hashOutput, string.Join(' ', command));
    }

    /// <summary>Waits for the program to end and its output to be read; kills it after <paramref name="timeout"/>.</summary>
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
        await Task.WhenAll(_reading, _error, _writing).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Waits until stdout contains <paramref name="marker"/>; false when the program ended or the time ran out first.</summary>
    public async Task<bool> WaitForOutputAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!OutputText.Contains(marker, StringComparison.Ordinal))
        {
            if (_process.HasExited && _reading.IsCompleted)
            {
                return OutputText.Contains(marker, StringComparison.Ordinal);
            }
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>One line saying how the program failed: its exit code, or that it ran out of time, and the first line of stderr.</summary>
    public string Failure()
    {
        string first = ErrorText.Trim().Split('\n', 2)[0];
        string how = TimedOut ? "ran out of time" : $"exited with {ExitCode}";
        return first.Length > 0 ? $"{how}: {first}" : how;
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
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
        _output.Dispose();
    }
}
