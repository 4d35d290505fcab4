using System.Globalization;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>ScratchNamespace: what it makes, what it removes, and how it finds what a crashed run left behind.</summary>
public sealed partial class IsolationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [RequiresNetAdminFact]
    public void A_scratch_namespace_has_loopback_up_and_ipv6_off_and_dispose_removes_it_with_its_processes()
    {
        NetAdminEnvironment.Require();
        ScratchNamespace ns = ScratchNamespace.Create("it");
        LeftBehind.Record(ns.Name);
        try
        {
            Assert.Matches(ScratchName(), ns.Name);
            Assert.True(ScratchNamespace.TryParseName(ns.Name, out string purpose, out int owner, out _));
            Assert.Equal(("it", Environment.ProcessId), (purpose, owner));
            Assert.Contains(ns.Name, ScratchNamespace.ListAll());
            Assert.DoesNotContain(ns.Name, ScratchNamespace.FindStale());
            PeerProgram lo = PeerProgram.Run(Timeout, "ip", "-n", ns.Name, "-o", "link", "show", "dev", "lo");
            Assert.Contains(",UP", lo.OutputLines.Single(), StringComparison.Ordinal);
            Assert.Equal("1", ns.Invoke(() => File.ReadAllText("/proc/sys/net/ipv6/conf/all/disable_ipv6").Trim()));
            Assert.Equal("1", ns.Invoke(() => File.ReadAllText("/proc/sys/net/ipv6/conf/default/disable_ipv6").Trim()));
            // The kernel's socket table of the namespace (what ss shows) is empty: nothing of the host's shows through.
            using (KernelTcpTable table = ns.OpenTcpTable())
            {
                Assert.Empty(table.Read());
            }

            PeerProgram sleeper = PeerProgram.Start(["sleep", "60"], ns.Start);
            LeftBehind.Record(sleeper.Id);
            Assert.Equal([sleeper.Id], ns.StartedProcessIds);
            ns.Dispose();

            Assert.True(sleeper.WaitForExit(Timeout), "the process started in the namespace still runs after Dispose");
            Assert.DoesNotContain(ns.Name, ScratchNamespace.ListAll());
            ns.Dispose(); // a second Dispose does nothing
        }
        finally
        {
            ns.Dispose();
        }
    }

    [RequiresNetAdminFact("python3", "ss")]
    public void The_kernel_tcp_table_lists_sockets_as_ss_does()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram listener = ns.Start("python3", "-c", KernelPeers.ListenAndStall, "5005");
        Assert.True(listener.WaitForOutputLine(l => l == "listening", Timeout), listener.Transcript);

        using KernelTcpTable table = ns.Scratch.OpenTcpTable();
        KernelTcpSocket socket = Assert.Single(table.Read());

        Assert.Equal(KernelTcpState.Listen, socket.State);
        Assert.Equal("0.0.0.0:5005", socket.Local.ToString());
        KernelSocket ss = Assert.Single(ns.Sockets());
        Assert.Equal(("LISTEN", "0.0.0.0:5005"), (ss.State, ss.Local));
    }

    [RequiresNetAdminFact]
    public void A_stale_namespace_of_a_dead_owner_is_removed_with_what_runs_in_it()
    {
        NetAdminEnvironment.Require();
        // Kept from every other process's sweep (each Create sweeps): the stale namespace made here is this test's sweep's to take.
        using IDisposable sweeps = ScratchNamespace.HoldSweeps();
        string stale = AddStaleNamespace(1);
        try
        {
            using PeerProgram orphan = PeerProgram.Start("ip", "netns", "exec", stale, "sleep", "60");
            LeftBehind.Record(orphan.Id);
            Assert.True(Poll.Until(() => PeerProgram.Run(Timeout, "ip", "netns", "pids", stale).OutputLines.Contains(orphan.Id.ToString(CultureInfo.InvariantCulture)), Timeout));
            Assert.Contains(stale, ScratchNamespace.FindStale());

            IReadOnlyList<string> removed = ScratchNamespace.RemoveStale();

            Assert.Contains(stale, removed);
            Assert.False(ScratchNamespace.Exists(stale));
            Assert.True(orphan.WaitForExit(Timeout), "the process left in the stale namespace still runs");
        }
        finally
        {
            PeerProgram.Run(Timeout, "ip", "netns", "del", stale).Dispose();
        }
    }

    [RequiresNetAdminFact]
    public void A_process_that_joins_a_stale_namespace_as_it_is_deleted_is_ended_too()
    {
        NetAdminEnvironment.Require();
        // Kept from every other process's sweep (each Create sweeps): the stale namespace made here is this test's sweep's to take.
        using IDisposable sweeps = ScratchNamespace.HoldSweeps();
        string stale = AddStaleNamespace(2);
        string handle = Path.Combine(NetworkNamespace.RunDirectory, stale);
        try
        {
            // As a dead run's `ip netns exec` caught between opening the namespace and entering it: not among its pids at
            // the sweep, inside it right after the deletion (the open handle keeps the namespace alive).
            using PeerProgram joiner = PeerProgram.Start("bash", "-c",
                $"exec 3<{handle}; echo holding; while [ -e {handle} ]; do :; done; exec nsenter --net=/proc/self/fd/3 sleep 60");
            LeftBehind.Record(joiner.Id);
            Assert.True(joiner.WaitForOutputLine(l => l == "holding", Timeout), joiner.Transcript);
            Assert.DoesNotContain(joiner.Id.ToString(CultureInfo.InvariantCulture), PeerProgram.Run(Timeout, "ip", "netns", "pids", stale).OutputLines);

            IReadOnlyList<string> removed = ScratchNamespace.RemoveStale();

            Assert.Contains(stale, removed);
            Assert.True(joiner.WaitForExit(Timeout), "the process that joined the deleted namespace still runs: " + joiner.Transcript);
        }
        finally
        {
            PeerProgram.Run(Timeout, "ip", "netns", "del", stale).Dispose();
        }
    }

    [RequiresNetAdminFact]
    public void The_sweep_ends_a_pid_only_while_it_names_a_process_in_the_stale_namespace()
    {
        NetAdminEnvironment.Require();
        // Kept from every other process's sweep (each Create sweeps): the stale namespace made here is this test's sweep's to take.
        using IDisposable sweeps = ScratchNamespace.HoldSweeps();
        string stale = AddStaleNamespace(3);
        try
        {
            string identity = ScratchNamespace.IdentityOf(stale) ?? throw new InvalidOperationException("no identity");
            // A pid the sweep read inside the namespace whose process has exited since, the pid now another's outside it.
            using PeerProgram outside = PeerProgram.Start("sleep", "60");
            LeftBehind.Record(outside.Id);
            Assert.False(ScratchNamespace.EndIfIn(outside.Id, identity));
            Assert.False(outside.WaitForExit(TimeSpan.FromMilliseconds(300)), "a process outside the stale namespace was ended");

            using PeerProgram inside = PeerProgram.Start("ip", "netns", "exec", stale, "sleep", "60");
            LeftBehind.Record(inside.Id);
            Assert.True(Poll.Until(() => ScratchNamespace.ProcessesIn([identity]).Contains(inside.Id), Timeout));
            Assert.True(ScratchNamespace.EndIfIn(inside.Id, identity));
            Assert.True(inside.WaitForExit(Timeout), "the process in the stale namespace still runs");
            Assert.False(outside.HasExited, "a process outside the stale namespace was ended");
        }
        finally
        {
            PeerProgram.Run(Timeout, "ip", "netns", "del", stale).Dispose();
        }
    }

    [RequiresNetAdminFact]
    public void A_sweep_leaves_stale_namespaces_alone_while_another_holds_the_sweeps_and_the_holders_own_sweep_takes_them()
    {
        NetAdminEnvironment.Require();
        string? passedOver = null, taken = null;
        try
        {
            // Another process's sweep or hold, as the lock sees it: flock(2) locks of two open files conflict within one process too.
            using (LockSweepsAsAnotherProcess())
            {
                passedOver = AddStaleNamespace(4);
                Assert.Contains(passedOver, ScratchNamespace.FindStale());

                Assert.DoesNotContain(passedOver, ScratchNamespace.RemoveStale());
                Assert.True(ScratchNamespace.Exists(passedOver), "a sweep took a stale namespace while another held the sweeps");
                PeerProgram.Run(Timeout, "ip", "netns", "del", passedOver).Dispose(); // before the lock goes, so no sweep elsewhere takes it
            }

            using (ScratchNamespace.HoldSweeps())
            {
                Assert.Throws<IOException>(() => new FileStream(ScratchNamespace.SweepLockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None).Dispose());
                taken = AddStaleNamespace(5);

                Assert.Contains(taken, ScratchNamespace.RemoveStale());
                Assert.False(ScratchNamespace.Exists(taken));
            }
        }
        finally
        {
            foreach (string? name in (string?[])[passedOver, taken])
            {
                if (name is not null && ScratchNamespace.Exists(name)) PeerProgram.Run(Timeout, "ip", "netns", "del", name).Dispose();
            }
        }
    }

    // The sweeps' lock taken on a file of its own, as another process takes it; a sweep under way elsewhere holds it a moment.
    private static FileStream LockSweepsAsAnotherProcess()
    {
        long start = Environment.TickCount64;
        while (true)
        {
            try
            {
                return new FileStream(ScratchNamespace.SweepLockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (Environment.TickCount64 - start < Timeout.TotalMilliseconds)
            {
                Thread.Sleep(20);
            }
        }
    }

    /// <summary>A namespace named as a run's whose owner is gone (the pid of a program that has exited): stale.</summary>
    private static string AddStaleNamespace(int number)
    {
        using PeerProgram exited = PeerProgram.Run(Timeout, "true");
        string stale = string.Create(CultureInfo.InvariantCulture, $"usertcp-it-{exited.Id}-{number}");
        Assert.Equal(0, PeerProgram.Run(Timeout, "ip", "netns", "add", stale).ExitCode);
        LeftBehind.Record(stale);
        return stale;
    }

    [RequiresNetAdminFact]
    public void A_namespace_named_after_a_live_pid_that_started_later_is_stale_and_one_after_an_older_pid_is_not()
    {
        NetAdminEnvironment.Require();
        // Kept from every other process's sweep (each Create sweeps): the stale namespace made here is this test's sweep's to take.
        using IDisposable sweeps = ScratchNamespace.HoldSweeps();
        // The namespace's handle keeps its creation time; a process that started after it cannot have made it.
        // Names of this process's own (two suites at once made the same fixed ones): baseName has no PID-N to judge by.
        string baseName = string.Create(CultureInfo.InvariantCulture, $"usertcp-it-reused-pid-{Environment.ProcessId}");
        Assert.Equal(0, PeerProgram.Run(Timeout, "ip", "netns", "add", baseName).ExitCode);
        LeftBehind.Record(baseName);
        string? reused = null, old = null;
        try
        {
            using PeerProgram holder = PeerProgram.Start("ip", "netns", "exec", baseName, "sleep", "60");
            LeftBehind.Record(holder.Id);
            Thread.Sleep(TimeSpan.FromSeconds(1.6));
            using PeerProgram younger = PeerProgram.Start("sleep", "60");
            LeftBehind.Record(younger.Id);
            Assert.True(Poll.Until(() => PeerProgram.Run(Timeout, "ip", "netns", "pids", baseName).OutputLines.Count > 0, Timeout));
            // Two more names for the same namespace (ip netns attach), one after the younger process, one after pid 1.
            reused = string.Create(CultureInfo.InvariantCulture, $"usertcp-it-{younger.Id}-1");
            old = string.Create(CultureInfo.InvariantCulture, $"usertcp-it-1-{Environment.ProcessId}");
            Assert.Equal(0, PeerProgram.Run(Timeout, "ip", "netns", "attach", reused, holder.Id.ToString(CultureInfo.InvariantCulture)).ExitCode);
            Assert.Equal(0, PeerProgram.Run(Timeout, "ip", "netns", "attach", old, holder.Id.ToString(CultureInfo.InvariantCulture)).ExitCode);
            LeftBehind.Record(reused);
            LeftBehind.Record(old);

            IReadOnlyList<string> stale = ScratchNamespace.FindStale();

            Assert.Contains(reused, stale);
            Assert.DoesNotContain(old, stale);
        }
        finally
        {
            foreach (string? name in (string?[])[reused, old, baseName])
            {
                if (name is not null) PeerProgram.Run(Timeout, "ip", "netns", "del", name).Dispose();
            }
        }
    }

    [GeneratedRegex(@"^usertcp-it-\d+-\d+$")]
    private static partial Regex ScratchName();
}
