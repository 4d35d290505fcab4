using System.Diagnostics;
using UserTcp.Interop;

namespace UserTcp.Tun;

/// <summary>The outcome of an `ip` invocation (or another short program), run to completion or stopped at its limit.</summary>
internal readonly record struct ToolOutcome(int ExitCode, string Output, string Error, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    public string Describe() => TimedOut ? "timed out" : (Error.Length > 0 ? Error : Output).Trim().Split('\n', 2)[0];
}

/// <summary>Finds and runs iproute2's `ip`, each call bounded in time; a call still running at its limit is killed.</summary>
internal static class IpTool
{
    // Non-root shells often leave the sbin directories (where ip lives) off PATH.
    private static readonly string[] ExtraDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    private static string? s_path;

    /// <summary>The full path of `ip`.</summary>
    /// <exception cref="TunException">It is not installed.</exception>
    public static string Path => s_path ??= FindExecutable("ip")
        ?? throw new TunException(Libc.ENOENT, "the ip tool is not installed (network namespaces need it): apt-get install iproute2");

    public static string? FindExecutable(string name)
    {
        string[] path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (string directory in path.Concat(ExtraDirectories))
        {
            string candidate = System.IO.Path.Combine(directory, name);
            if (File.Exists(candidate)
                && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }
        return null;
    }

    public static ToolOutcome Run(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path)
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
        return new ToolOutcome(exited ? process.ExitCode : -1, output.Result, error.Result, TimedOut: !exited);
    }
}
