using Tmds.Linux;
using UserTcp.Tun;

namespace UserTcp.Lab;

/// <summary>iproute2's `ip`, for what only it does here (creating and deleting named network namespaces).</summary>
public static class IpTool
{
    private static string? s_path;

    /// <summary>The full path of `ip`.</summary>
    /// <exception cref="TunException">It is not installed.</exception>
    public static string Path => s_path ??= ExternalProgram.Find("ip")
        ?? throw new TunException(LibC.ENOENT, "the ip tool is not installed (network namespaces need it): apt-get install iproute2");

    /// <summary>Runs `ip` with <paramref name="arguments"/>, bounded by <paramref name="timeout"/>.</summary>
    /// <exception cref="TunException">It is not installed.</exception>
    public static ToolOutcome Run(TimeSpan timeout, params string[] arguments) => ExternalProgram.Run(Path, timeout, arguments);
}
