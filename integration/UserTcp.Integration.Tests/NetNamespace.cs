using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>
/// A network namespace made for one test (usertcp-it-PID-N, a <see cref="ScratchNamespace"/>) and deleted when the
/// test ends, also when it fails. The TUN device and every kernel peer live inside it, so the host's interfaces are
/// never touched. Adds to ScratchNamespace what tests want: peers with their output collected, bounded runs, and
/// `ip -n` and `ss` from outside.
/// </summary>
public sealed class NetNamespace : IDisposable
{
    public const string Purpose = "it";
    private static readonly TimeSpan IpTimeout = TimeSpan.FromSeconds(10);

    private readonly ScratchNamespace _scratch;
    // Programs started inside the namespace; whatever still runs at Dispose is killed by pid.
    private readonly List<PeerProgram> _peers = [];

    private NetNamespace(ScratchNamespace scratch) => _scratch = scratch;

    public string Name => _scratch.Name;

    public ScratchNamespace Scratch => _scratch;

    public static NetNamespace Create()
    {
        NetAdminEnvironment.Require();
        var ns = new NetNamespace(ScratchNamespace.Create(Purpose));
        LeftBehind.Record(ns.Name);
        return ns;
    }

    /// <summary>Creates a TUN device inside the namespace; it keeps working from any thread.</summary>
    public TunDevice OpenTun(TunOptions options) => _scratch.OpenTun(options);

    /// <summary>Starts a program inside the namespace (ip netns exec); it is killed at Dispose if still running.</summary>
    public PeerProgram Start(params string[] command) => Track(PeerProgram.Start(command, _scratch.Start));

    /// <summary>Like <see cref="Start(string[])"/>, with standard input kept open for <see cref="PeerProgram.WriteInput"/>.</summary>
    public PeerProgram StartInteractive(params string[] command) => Track(PeerProgram.Start(command, _scratch.Start, keepInputOpen: true));

    /// <summary>Runs a program inside the namespace to completion, at most <paramref name="timeout"/>.</summary>
    public PeerProgram Run(TimeSpan timeout, params string[] command)
    {
        PeerProgram peer = Start(command);
        if (!peer.WaitForExit(timeout))
        {
            throw new TimeoutException(peer.HasExited
                ? $"exited, but its output had not ended 5 s later (a child it left running holds it):\n{peer.Transcript}"
                : $"still running after {timeout.TotalSeconds} s:\n{peer.Transcript}");
        }
        return peer;
    }

    /// <summary>Runs `ip -n NAME ARGS...` from outside, as a person inspecting the namespace would.</summary>
    public PeerProgram Ip(params string[] arguments) => PeerProgram.Run(IpTimeout, ["ip", "-n", Name, .. arguments]);

    /// <summary>The kernel's TCP sockets in the namespace as `ss -tanH` prints them (state, queues, local, peer).</summary>
    public IReadOnlyList<KernelSocket> Sockets()
    {
        PeerProgram ss = Run(IpTimeout, "ss", "-tanH");
        Assert.True(ss.ExitCode == 0, ss.Transcript);
        return [.. ss.OutputLines.Select(KernelSocket.Parse).OfType<KernelSocket>()];
    }

    public void Dispose()
    {
        lock (_peers)
        {
            foreach (PeerProgram peer in _peers)
            {
                peer.Dispose();
            }
            _peers.Clear();
        }
        _scratch.Dispose();
    }

    private PeerProgram Track(PeerProgram peer)
    {
        lock (_peers)
        {
            _peers.Add(peer);
        }
        LeftBehind.Record(peer.Id);
        return peer;
    }
}
