namespace UserTcp.Sockets.Runtime;

/// <summary>
/// The user calls a thread's passes completed, signalled once it holds no lock of the stack (its batch has gone out).
/// A call whose connection asked for inline completions resumes its awaiter right here, on this thread; that code may
/// make more passes, whose completions join the same list and are signalled by the loop already running, one after the
/// other (a trampoline: no recursion however many connections wake each other).
/// </summary>
internal static class Completions
{
    // One thread-local object for the list and the flag: a pass that finishes calls reaches it once per use, not once per field.
    [ThreadStatic] private static ThreadCompletions? t_completions;

    /// <summary>This thread's list of calls to signal; a batch hands its completions over into it.</summary>
    public static List<CompletedCall> Pending => (t_completions ??= new ThreadCompletions()).Pending;

    /// <summary>Whether this thread is running completed calls' continuations inline (code that must not wait on the stack).</summary>
    public static bool IsSignalling => t_completions?.Signalling == true;

    /// <summary>Signals what this thread has pending, unless an outer call on this thread is already doing so (it will reach them).</summary>
    public static void SignalPending()
    {
        ThreadCompletions? completions = t_completions;
        if (completions is null || completions.Signalling) return;
        List<CompletedCall> pending = completions.Pending;
        if (pending.Count == 0) return;
        completions.Signalling = true;
        List<Exception>? failures = null;
        try
        {
            // A continuation run inline may add more: index, not foreach. One that throws must not strand the calls after
            // it (their awaiters would wait forever): each is signalled, and the failures are thrown together at the end.
            for (int i = 0; i < pending.Count; i++)
            {
                try
                {
                    pending[i].Operation.Signal();
                }
                catch (Exception e)
                {
                    (failures ??= []).Add(e);
                }
            }
        }
        finally
        {
            pending.Clear();
            completions.Signalling = false;
        }
        if (failures is not null) Throw(failures);
    }

    private static void Throw(List<Exception> failures)
    {
        if (failures.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failures[0]);
        throw new AggregateException("continuations run inline by completed calls failed", failures);
    }

    private sealed class ThreadCompletions
    {
        public readonly List<CompletedCall> Pending = [];
        public bool Signalling;
    }
}
