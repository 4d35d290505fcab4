using System.Globalization;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>PeerThread: the lab's kernel-side work runs on a thread of its own at nice -20, and only that thread is raised.</summary>
public sealed class PeerThreadTests
{
    [RequiresNetAdminFact]
    public async Task The_work_runs_at_nice_minus_20_on_its_own_thread_and_the_caller_keeps_its_nice_value()
    {
        NetAdminEnvironment.Require(); // root: a negative nice value needs CAP_SYS_NICE
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int callerThread = Environment.CurrentManagedThreadId;
        int processNiceBefore = ProcessNice();

        PeerThread<(int Nice, int Thread, int ChildNice)> peer = await PeerThread.StartAsync(
            "peer-thread-test", () => (CurrentThreadNice(), Environment.CurrentManagedThreadId, NiceOfANewThread()), timeout.Token);
        (int nice, int thread, int childNice) = await peer.Completion.WaitAsync(timeout.Token);

        Assert.Equal(-20, nice);
        Assert.NotEqual(callerThread, thread);
        // setpriority(PRIO_PROCESS, 0) names the calling thread on Linux, not the process: nothing else was raised...
        Assert.Equal(processNiceBefore, ProcessNice());
        // ...and SCHED_RESET_ON_FORK keeps a thread the raised one starts (a thread-pool worker, say) from inheriting it.
        Assert.Equal(0, childNice);
    }

    private static int NiceOfANewThread()
    {
        int nice = int.MinValue;
        var thread = new Thread(() => nice = CurrentThreadNice());
        thread.Start();
        thread.Join();
        return nice;
    }

    // Field 19 of /proc/thread-self/stat (proc(5)); the name in field 2 is in parentheses and may hold spaces.
    private static int CurrentThreadNice() => NiceFromStat(File.ReadAllText("/proc/thread-self/stat"));

    private static int ProcessNice() => NiceFromStat(File.ReadAllText("/proc/self/stat"));

    private static int NiceFromStat(string stat)
    {
        string[] afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(afterName[19 - 3], CultureInfo.InvariantCulture); // fields 3.. follow the name
    }
}
