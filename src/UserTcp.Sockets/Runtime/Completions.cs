namespace UserTcp.Sockets.Runtime;

/// <summary>
/// The user calls a thread's passes completed, signalled once it holds no lock of the stack (its batch has gone out).
/// A call whose connection asked for inline completions resumes its awaiter right here, on this thread; that code may
/// make more passes, whose completions join the same list and are signalled by the loop already running, one after the
/// other (a trampoline: no recursion however many connections wake each other).
/// </summary>
internal static class Completions
{
    [ThreadStatic] private static List<CompletedCall>? t_pending;
    [ThreadStatic] private static bool t_signalling;

    /// <summary>This thread's list of calls to signal; a batch hands its completions over into it under the transmit lock.</summary>
    public static List<CompletedCall> Pending => t_pending ??= [];

    /// <summary>Signals what this thread has pending, unless an outer call on this thread is already doing so (it will reach them).</summary>
    public static void SignalPending()
    {
        if (t_signalling) return;
        List<CompletedCall>? pending = t_pending;
        if (pending is null || pending.Count == 0) return;
        t_signalling = true;
        try
        {
            // A continuation run inline may add more: index, not foreach.
            for (int i = 0; i < pending.Count; i++) pending[i].Operation.Signal();
        }
        finally
        {
            pending.Clear();
            t_signalling = false;
        }
    }
}
