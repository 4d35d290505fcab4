using System.Globalization;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>Whether this machine can run the namespace tests, and what is missing when it cannot.</summary>
internal static class NetAdminEnvironment
{
    private const int CapNetAdminBit = 12;
    private const int CapSysAdminBit = 21;

    // The programs every namespace test may run, with the Debian package that has each.
    private static readonly (string Tool, string Package)[] Tools =
    [
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("bash", "bash"),
        ("timeout", "coreutils"),
    ];

    // The kernel peers some tests run besides, named in their RequiresNetAdminFact.
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["curl"] = "curl",
        ["nc"] = "netcat-openbsd",
        ["python3"] = "python3",
        ["ss"] = "iproute2",
        ["sha256sum"] = "coreutils",
        ["ab"] = "apache2-utils",
        ["wrk"] = "wrk",
        ["tshark"] = "tshark",
        ["chromium"] = "chromium",
    };

    /// <summary>CI sets CI=true; there a missing prerequisite is a failure, never a skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why the namespace tests cannot run here (with what to do), or null when they can.</summary>
    public static string? MissingPrerequisite(params string[] tools)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "TUN and network namespaces need Linux";
        }
        ulong capabilities = EffectiveCapabilities();
        if ((capabilities & 1UL << CapNetAdminBit) == 0)
        {
            return "CAP_NET_ADMIN is missing: run the integration tests as root";
        }
        if ((capabilities & 1UL << CapSysAdminBit) == 0)
        {
            return "CAP_SYS_ADMIN is missing (ip netns needs it): run the integration tests as root";
        }
        if (!File.Exists("/dev/net/tun"))
        {
            return "/dev/net/tun is missing: load the tun module (modprobe tun)";
        }
        foreach ((string tool, string package) in Tools.Concat(tools.Select(t => (t, Packages.GetValueOrDefault(t, t)))))
        {
            if (ExternalProgram.Find(tool) is null)
            {
                return $"'{tool}' is not installed: apt-get install {package}";
            }
        }
        if (tools.Contains("nc") && !IsOpenBsdNetcat())
        {
            return "nc is not OpenBSD netcat (the tests use its -N): apt-get install netcat-openbsd";
        }
        return null;
    }

    /// <summary>Fails the running test with the reason when a prerequisite is missing (reached only when not skipped).</summary>
    public static void Require(params string[] tools)
    {
        if (MissingPrerequisite(tools) is string reason)
        {
            throw new InvalidOperationException($"integration prerequisites missing{(IsCi ? " in CI" : "")}: {reason}");
        }
    }

    private static bool IsOpenBsdNetcat()
    {
        using PeerProgram help = PeerProgram.Run(TimeSpan.FromSeconds(10), "nc", "-h");
        return help.OutputLines.Concat(help.ErrorLines).Any(l => l.Contains("OpenBSD", StringComparison.Ordinal));
    }

    private static ulong EffectiveCapabilities()
    {
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        return line is not null && ulong.TryParse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : 0;
    }
}
