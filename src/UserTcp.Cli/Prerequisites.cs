using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Cli;

/// <summary>Checks that the kernel-side programs a command drives are installed, with a one-line hint when not.</summary>
internal static class Prerequisites
{
    /// <exception cref="CliException">A tool is missing, or nc is not OpenBSD netcat.</exception>
    public static void Require(IEnumerable<(string Tool, string Package)> tools, string command)
    {
        foreach ((string tool, string package) in tools)
        {
            if (ExternalProgram.Find(tool) is null)
            {
                throw new CliException(1, $"{tool} is not installed: apt-get install {package}");
            }
        }
        // nc -N (shut down the sending side at the end of input) is OpenBSD netcat's; netcat-traditional lacks it.
        string path = ExternalProgram.Find("nc") ?? throw new CliException(1, "nc is not installed: apt-get install netcat-openbsd");
        ToolOutcome nc = ExternalProgram.Run(path, TimeSpan.FromSeconds(5), "-h");
        if (!(nc.Output + nc.Error).Contains("OpenBSD", StringComparison.Ordinal))
        {
            throw new CliException(1, $"nc is not OpenBSD netcat, whose -N the {command} uses: apt-get install netcat-openbsd");
        }
    }
}
