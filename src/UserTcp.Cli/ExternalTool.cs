using System.Diagnostics;

namespace UserTcp.Cli;

/// <summary>The outcome of an external program run to completion (or stopped at its time limit).</summary>
internal sealed record ToolResult(int ExitCode, string Output, string Error, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    /// <summary>The first line the program wrote to stderr (or stdout), for one-line reports.</summary>
    public string FirstLine =>
        TimedOut ? "timed out" : (Error.Length > 0 ? Error : Output).Split('\n', 2)[0].Trim();
}

/// <summary>Finds and runs the external programs the doctor relies on, each bounded in time.</summary>
internal static class ExternalTool
{
    // Non-root shells often leave the sbin directories (where ip lives) off PATH.
    private static readonly string[] ExtraDirectories = ["/usr/sbin", "/sbin"];

    /// <summary>The full path of an executable found on PATH (or in the sbin directories), or null.</summary>
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

    /// <summary>Runs a program and waits at most <paramref name="timeout"/>; a program still running then is killed.</summary>
    public static ToolResult Run(string path, TimeSpan timeout, params string[] arguments)
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
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        bool exited = process.WaitForExit(timeout);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        return new ToolResult(exited ? process.ExitCode : -1, output.Result, error.Result, TimedOut: !exited);
    }
}
