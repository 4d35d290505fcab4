using System.Diagnostics;
using UserTcp.Interop;

namespace UserTcp.Link;

/// <summary>
/// A one-shot timer with a thread of its own, for work that must run when due however busy the .NET thread pool is —
/// delayed packets leaving a fault link, a stack's engine timers: the system <see cref="TimeProvider"/>'s timer callbacks
/// wait for a thread-pool thread, so a starved pool (blocking work items, a loaded machine) makes them late until it
/// injects one, about every half second. The thread starts at the first
/// <see cref="Change"/>, sleeps until the earliest instant armed (woken at once when the timer is re-armed earlier),
/// runs the callback there, one call at a time, and ends on <see cref="Dispose"/>, which waits for it, so no callback
/// runs once Dispose has returned. The instants are the system clock's (<see cref="Stopwatch"/>, as
/// <see cref="TimeProvider.System"/>'s).
/// </summary>
public sealed class DedicatedTimer : ITimer
{
    private const long Never = long.MaxValue;

    private readonly Action _callback;
    private readonly string _name;
    // Guards the fields below; the thread waits on it (Monitor.Wait), so it is a plain object, not a Lock.
    private readonly object _gate = new();
    // The Stopwatch timestamp the callback is due at; Never when disarmed.
    private long _due = Never;
    // Set once by Dispose; the thread ends when it sees it.
    private bool _disposed;
    // Null until the first arming; then the one thread, until Dispose has joined it.
    private Thread? _thread;

    /// <param name="callback">Runs on the timer's thread when it is due; it must not throw (it would end the process).</param>
    /// <param name="name">The thread's name (Linux shows its first 15 characters).</param>
    public DedicatedTimer(Action callback, string name)
    {
        ArgumentNullException.ThrowIfNull(callback);
        _callback = callback;
        _name = name;
    }

    /// <summary>Arms the timer <paramref name="dueTime"/> from now (infinite disarms); one-shot only. False once disposed.</summary>
    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        if (period != Timeout.InfiniteTimeSpan) throw new ArgumentOutOfRangeException(nameof(period), period, "a DedicatedTimer is one-shot");
        bool never = dueTime == Timeout.InfiniteTimeSpan;
        if (!never) ArgumentOutOfRangeException.ThrowIfLessThan(dueTime, TimeSpan.Zero);
        long due = never ? Never : Later(Stopwatch.GetTimestamp(), dueTime);
        lock (_gate)
        {
            if (_disposed) return false;
            // A later instant needs no wake-up: the thread wakes at the earlier one, finds it not due, and sleeps on.
            bool sooner = due < _due;
            _due = due;
            if (_thread is null && !never)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = _name };
                _thread.Start();
            }
            if (sooner) Monitor.Pulse(_gate);
        }
        return true;
    }

    /// <summary>Stops the thread and waits for it (and for a callback under way), unless called from the callback.</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            thread = _thread;
            Monitor.Pulse(_gate);
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join();
    }

    /// <summary>As <see cref="Dispose"/> (which blocks while a callback under way finishes).</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    // The timestamp dueTime after now, short of Never however long the wait.
    private static long Later(long now, TimeSpan dueTime)
    {
        double ticks = dueTime.TotalSeconds * Stopwatch.Frequency;
        return ticks >= Never - 1 - now ? Never - 1 : now + (long)ticks;
    }

    private void Run()
    {
        // .NET ignores ThreadPriority on Linux: nice -20 for this thread alone keeps callbacks on time beside busy cores; the
        // thread mostly sleeps, and its callbacks are short (a few packets written, one engine pass). Without CAP_SYS_NICE
        // the kernel refuses and it stays at its nice value.
        if (OperatingSystem.IsLinux()) Renice.CurrentThread();
        while (WaitUntilDue()) _callback();
    }

    // Sleeps until the armed instant and disarms; false when disposed.
    private bool WaitUntilDue()
    {
        lock (_gate)
        {
            while (!_disposed)
            {
                if (_due == Never)
                {
                    Monitor.Wait(_gate);
                    continue;
                }
                long left = _due - Stopwatch.GetTimestamp();
                if (left <= 0)
                {
                    _due = Never;
                    return true;
                }
                // Rounded up to whole milliseconds (the wait's unit): waking before the instant would only sleep again.
                Monitor.Wait(_gate, (int)Math.Min(Math.Ceiling(left * 1000.0 / Stopwatch.Frequency), int.MaxValue));
            }
            return false;
        }
    }
}
