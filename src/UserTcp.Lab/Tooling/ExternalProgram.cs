using System.Diagnostics;

namespace UserTcp.Lab;

/// <summary>The outcome of a short external program, run to completion or stopped at its time limit.</summary>
public readonly record struct ToolOutcome(int ExitCode, string Output, string Error, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>The first line the program wrote to stderr (or stdout), for one-line reports.</summary>
    public string Describe() => TimedOut ? "timed out" : (Error.Length > 0 ? Error : Output).Trim().Split('\n', 2)[0];
}

/// <summary>Finds and runs the external programs UserTcp relies on (ip, kill, nc), each call bounded in time.</summary>
public static class ExternalProgram
{
    // Non-root shells often leave the sbin directories (where ip lives) off PATH.
    private static readonly string[] ExtraDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
    // How long the output may take to end after the program did, when the bound has run out.
    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(1);
    // A shell's exit status for a command found but not executable.
    private const int CannotExecute = 126;

    /// <summary>The full path of an executable found on PATH (or in the usual system directories), or null.</summary>
    public static string? Find(string name)
    {
        string[] path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (string directory in path.Concat(ExtraDirectories))
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate)
                && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// Runs a program with no input and waits at most <paramref name="timeout"/>; one still running then is killed. An outcome
    /// whose output had not ended by then (a child the program left holds it) is timed out too.
    /// </summary>
    public static ToolOutcome Run(string path, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        long started = Stopwatch.GetTimestamp();
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // Not executable, not a program (ENOEXEC), gone since Find: an outcome that says so, as a shell's 126 does.
            return new ToolOutcome(CannotExecute, "", $"{path} could not be started: {e.Message}", TimedOut: false);
        }
        using (process)
        {
            process.StandardInput.Close();
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> error = process.StandardError.ReadToEndAsync();
            bool exited = process.WaitForExit(timeout);
            if (!exited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            // The output ends when its last holder lets go: the program, or a child it left running, which the bound covers too.
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(started);
            bool ended = Task.WaitAll([output, error], left > OutputGrace ? left : OutputGrace);
            return new ToolOutcome(exited ? process.ExitCode : -1, output.IsCompletedSuccessfully ? output.Result : "",
                error.IsCompletedSuccessfully ? error.Result : "", TimedOut: !exited || !ended);
        }
    }
}
