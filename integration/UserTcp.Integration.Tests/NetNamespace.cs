using System.Globalization;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>
/// A network namespace made for one test (utcp-it-PID-N) and deleted when the test ends, also when it
/// fails. The TUN device and every kernel peer live inside it, so the host's interfaces are never touched.
/// </summary>
public sealed class NetNamespace : IDisposable
{
    private static readonly TimeSpan IpTimeout = TimeSpan.FromSeconds(10);
    private static int s_created;

    // Programs started inside the namespace; whatever still runs at Dispose is killed by pid.
    private readonly List<PeerProcess> _peers = [];

    private NetNamespace(string name) => Name = name;

    public string Name { get; }

    public static NetNamespace Create()
    {
        NetAdminEnvironment.Require();
        string name = string.Create(CultureInfo.InvariantCulture, $"utcp-it-{Environment.ProcessId}-{Interlocked.Increment(ref s_created)}");
        PeerProcess added = PeerProcess.Run(IpTimeout, "ip", "netns", "add", name);
        if (added.ExitCode != 0)
        {
            throw new InvalidOperationException($"could not create the test namespace:\n{added.Transcript}");
        }
        var ns = new NetNamespace(name);
        try
        {
            ns.DisableIpv6();
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Creates a TUN device inside the namespace; it keeps working from any thread.</summary>
    public TunDevice OpenTun(TunOptions options) => NetworkNamespace.Invoke(Name, () => TunDevice.Open(options));

    /// <summary>Starts a program inside the namespace (ip netns exec); it is killed at Dispose if still running.</summary>
    public PeerProcess Start(params string[] command)
    {
        PeerProcess peer = PeerProcess.Start(["ip", "netns", "exec", Name, .. command]);
        lock (_peers)
        {
            _peers.Add(peer);
        }
        return peer;
    }

    /// <summary>Runs a program inside the namespace to completion, at most <paramref name="timeout"/>.</summary>
    public PeerProcess Run(TimeSpan timeout, params string[] command)
    {
        PeerProcess peer = Start(command);
        if (!peer.WaitForExit(timeout))
        {
            throw new TimeoutException($"still running after {timeout.TotalSeconds} s:\n{peer.Transcript}");
        }
        return peer;
    }

    /// <summary>Runs `ip -n NAME ARGS...` from outside, as a person inspecting the namespace would.</summary>
    public PeerProcess Ip(params string[] arguments) => PeerProcess.Run(IpTimeout, ["ip", "-n", Name, .. arguments]);

    public void Dispose()
    {
        lock (_peers)
        {
            foreach (PeerProcess peer in _peers)
            {
                peer.Dispose();
            }
            _peers.Clear();
        }
        PeerProcess deleted = PeerProcess.Run(IpTimeout, "ip", "netns", "del", Name);
        if (deleted.ExitCode != 0)
        {
            throw new InvalidOperationException($"could not delete test namespace {Name}:\n{deleted.Transcript}");
        }
    }

    // The kernel would otherwise send IPv6 router solicitations and MLD reports on every new
    // interface, and the tests want to see only the packets they cause. /proc/sys/net shows the
    // namespace of the thread that opens it.
    private void DisableIpv6()
    {
        if (Directory.Exists("/proc/sys/net/ipv6"))
        {
            NetworkNamespace.Invoke(Name, () =>
            {
                File.WriteAllText("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
                File.WriteAllText("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
                return true;
            });
        }
    }
}
