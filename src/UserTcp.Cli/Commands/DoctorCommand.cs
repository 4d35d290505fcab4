using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using UserTcp.Lab;
using UserTcp.Live;
using UserTcp.Tun;

namespace UserTcp.Cli.Commands;

/// <summary>`usertcp doctor`: one line per check of what UserTcp needs from this machine.</summary>
internal static class DoctorCommand
{
    private const int CapNetAdminBit = 12;
    private const string TunInNamespace = "tun in netns";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(10);

    // Kernel programs the labs and tests use as peers; none is needed to run UserTcp itself.
    private static readonly (string Name, string Package)[] OptionalPeers =
    [
        ("curl", "curl"),
        ("nc", "netcat-openbsd"),
        ("ss", "iproute2"),
        ("ping", "iputils-ping"),
        ("python3", "python3"),
        ("tcpdump", "tcpdump"),
    ];

    public static Command Create()
    {
        var command = new Command("doctor",
            "Check that this machine can run UserTcp: Linux, CAP_NET_ADMIN, /dev/net/tun, the ip tool, and a TUN "
            + "interface created, configured and removed inside a network namespace made (and deleted) for the check. "
            + "Also lists the optional kernel peers. Exits 0 only when every required check passes.");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        // What is being checked, for a report someone else reads: the build (its commit) and the runtime.
        string version = typeof(DoctorCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        Report(Status.Info, "usertcp", $"{version} on .NET {Environment.Version}");
        if (!OperatingSystem.IsLinux())
        {
            Report(Status.Fail, "linux", $"UserTcp needs Linux with TUN devices; this is {RuntimeInformation.OSDescription}");
            return 1;
        }
        Report(Status.Ok, "linux", $"{RuntimeInformation.OSDescription}, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");

        bool passed = CheckCapability();
        passed &= CheckControlDevice();
        string? ip = ExternalProgram.Find("ip");
        passed &= CheckIpTool(ip);
        passed &= ip is null
            ? Report(Status.Fail, TunInNamespace, "not tried: creating the namespace needs the ip tool")
            : CheckTunInNamespace(ip);

        foreach ((string name, string package) in OptionalPeers)
        {
            string? path = ExternalProgram.Find(name);
            if (path is null)
            {
                Report(Status.Warn, name, $"not found (optional peer): apt-get install {package}");
            }
            else
            {
                Report(Status.Info, name, path);
            }
        }
        return passed ? 0 : 1;
    }

    private static bool CheckCapability()
    {
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        if (line is null || !ulong.TryParse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong effective))
        {
            return Report(Status.Fail, "CAP_NET_ADMIN", "cannot read CapEff from /proc/self/status");
        }
        return (effective & 1UL << CapNetAdminBit) != 0
            ? Report(Status.Ok, "CAP_NET_ADMIN", "in the effective capability set")
            : Report(Status.Fail, "CAP_NET_ADMIN", "missing from the effective capability set: run as root or grant cap_net_admin");
    }

    private static bool CheckControlDevice()
    {
        try
        {
            TunDevice.CheckControlDevice();
            return Report(Status.Ok, "/dev/net/tun", "opens read-write");
        }
        catch (TunException exception)
        {
            return Report(Status.Fail, "/dev/net/tun", exception.Message);
        }
    }

    private static bool CheckIpTool(string? ip)
    {
        if (ip is null)
        {
            return Report(Status.Fail, "ip", "not found, and network namespaces need it: apt-get install iproute2");
        }
        ToolOutcome version = ExternalProgram.Run(ip, ToolTimeout, "-V");
        return version.Succeeded
            ? Report(Status.Ok, "ip", $"{ip} ({version.Output.Trim()})")
            : Report(Status.Fail, "ip", $"{ip} -V failed: {version.Describe()}");
    }

    // Everything happens in a namespace made for the check, so the host's interfaces are never touched.
    private static bool CheckTunInNamespace(string ip)
    {
        const string iface = "utcp-doctor";
        var options = new TunOptions(iface, LiveDefaults.KernelAddress);
        string ns = string.Create(CultureInfo.InvariantCulture, $"usertcp-doctor-{Environment.ProcessId}");

        ToolOutcome added = ExternalProgram.Run(ip, ToolTimeout, "netns", "add", ns);
        if (!added.Succeeded)
        {
            return Report(Status.Fail, TunInNamespace, $"ip netns add {ns} failed ({added.Describe()}): run as root (namespaces need CAP_SYS_ADMIN)");
        }
        try
        {
            string? problem = ProbeTun(ip, ns, options);
            return problem is null
                ? Report(Status.Ok, TunInNamespace, $"created {iface} in namespace {ns} with {options.Address}, mtu {options.Mtu}, up; removed it")
                : Report(Status.Fail, TunInNamespace, problem);
        }
        catch (TunException exception)
        {
            return Report(Status.Fail, TunInNamespace, exception.Message);
        }
        finally
        {
            ToolOutcome deleted = ExternalProgram.Run(ip, ToolTimeout, "netns", "del", ns);
            if (!deleted.Succeeded)
            {
                Report(Status.Fail, "netns cleanup", $"ip netns del {ns} failed ({deleted.Describe()}): delete it by hand");
            }
        }
    }

    // Returns what went wrong, or null when the kernel shows the interface as configured and then removes it.
    private static string? ProbeTun(string ip, string ns, TunOptions options)
    {
        using (new LiveStackBuilder { InterfaceName = options.Name, KernelAddress = options.Address, Mtu = options.Mtu, Namespace = ns }.OpenDevice())
        {
            ToolOutcome link = ExternalProgram.Run(ip, ToolTimeout, "-n", ns, "-o", "link", "show", "dev", options.Name);
            string mtu = string.Create(CultureInfo.InvariantCulture, $" mtu {options.Mtu} ");
            if (!link.Succeeded || !link.Output.Contains(mtu, StringComparison.Ordinal) || !link.Output.Contains(",UP", StringComparison.Ordinal))
            {
                return $"ip link does not show {options.Name} up with mtu {options.Mtu}: {link.Describe()}";
            }
            ToolOutcome address = ExternalProgram.Run(ip, ToolTimeout, "-n", ns, "-o", "-4", "addr", "show", "dev", options.Name);
            if (!address.Succeeded || !address.Output.Contains($" inet {options.Address} ", StringComparison.Ordinal))
            {
                return $"ip addr does not show {options.Address} on {options.Name}: {address.Describe()}";
            }
        }
        ToolOutcome gone = ExternalProgram.Run(ip, ToolTimeout, "-n", ns, "link", "show", "dev", options.Name);
        return gone.ExitCode == 0 ? $"{options.Name} still exists after its descriptor was closed" : null;
    }

    private static bool Report(Status status, string check, string detail)
    {
        string label = status switch
        {
            Status.Ok => "ok",
            Status.Fail => "FAIL",
            Status.Info => "info",
            _ => "warn",
        };
        Console.Out.WriteLine($"{label,-4}  {check,-14}  {detail}");
        return status != Status.Fail;
    }

    private enum Status
    {
        Ok,
        Fail,
        Info,
        Warn,
    }
}
