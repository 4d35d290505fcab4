using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Sockets;

/// <summary>poll(2)'s view of a connection (Linux's tcp_poll), and the wakeups an <see cref="UserTcpEventPoll"/> waits on.</summary>
public sealed partial class UserTcpConnection
{
    // Made by the first event poll that watches this connection (an unwatched one pays one reference). Guarded by the engine lock.
    private WatchState? _watch;

    /// <summary>The watching registrations and what they last saw.</summary>
    private sealed class WatchState
    {
        public readonly List<UserTcpEventPoll.Registration> Watchers = [];
        // The receive sequence (new data or FIN wakes In), the state, whether the error was pending.
        public SeqNumber SeenRcvNxt;
        public TcpState SeenState;
        public bool SeenError;
        // Linux's SOCK_NOSPACE: a poll or write found no room, so room appearing later is a wakeup.
        public bool NoSpace;
    }

    /// <summary>A poll or write found no room (SOCK_NOSPACE); only watched connections need to remember it.</summary>
    private void NoteNoSpace()
    {
        if (_watch is { } watch) watch.NoSpace = true;
    }

    /// <summary>The readiness now, as Linux's poll reports it for a TCP socket.</summary>
    public UserTcpPollEvents Poll()
    {
        _shard.Enter();
        try
        {
            return PollCore();
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>Under the engine lock: Linux's tcp_poll.</summary>
    internal UserTcpPollEvents PollCore()
    {
        TcpState state = _tcb.State;
        bool closed = state == TcpState.Closed;
        bool receiveShut = closed || _tcb.FinReceived || _tcb.IsReceiveShutdown;
        bool sendShut = closed || _tcb.IsSendShutdown;
        UserTcpPollEvents events = UserTcpPollEvents.None;
        if (receiveShut && sendShut) events |= UserTcpPollEvents.Hangup;
        if (receiveShut) events |= UserTcpPollEvents.In | UserTcpPollEvents.ReadHangup;
        // While connecting nothing is readable or writable yet; an accepted Fast Open connection is (tcp_poll's fastopen_rsk).
        if (state is not (TcpState.SynSent or TcpState.SynReceived) || _tcb.SendsBeforeHandshake)
        {
            if (_tcb.BytesToRead > 0) events |= UserTcpPollEvents.In;
            if (sendShut || _tcb.IsWritable) events |= UserTcpPollEvents.Out;
            else NoteNoSpace();
        }
        // Linux's tcp_poll for DEFER_CONNECT: a Fast Open SYN waiting for its data is writable, so the write that sends it comes.
        else if (_tcb.FastOpenAwaitsData)
        {
            events |= UserTcpPollEvents.Out;
        }
        if (HasUnreportedError) events |= UserTcpPollEvents.Error;
        return events;
    }

    private bool HasUnreportedError => !_errorReported && IsFailure(_tcb.Error);

    internal void Watch(UserTcpEventPoll.Registration registration)
    {
        _shard.Enter();
        try
        {
            _watch ??= new WatchState { SeenRcvNxt = _tcb.RcvNxt, SeenState = _tcb.State, SeenError = HasUnreportedError };
            _watch.Watchers.Add(registration);
        }
        finally
        {
            _shard.Exit();
        }
    }

    internal void Unwatch(UserTcpEventPoll.Registration registration)
    {
        // The engine lock alone, no pass: nothing changes for the engine, and an event poll's Dispose or Remove must not
        // throw once the stack has stopped (a pass is refused then).
        lock (_shard.Gate) _watch?.Watchers.Remove(registration);
    }

    /// <summary>
    /// Under the engine lock, when the connection changed: Linux's wakeups — sk_data_ready for new data or a FIN
    /// (In), sk_write_space once room appears after a write or poll found none (Out), sk_state_change and
    /// sk_error_report (everything) — go to the watching event polls.
    /// </summary>
    private void WakeWatchers()
    {
        if (_watch is not { Watchers.Count: > 0 } watch) return;
        UserTcpPollEvents key = UserTcpPollEvents.None;
        if (_tcb.RcvNxt != watch.SeenRcvNxt)
        {
            watch.SeenRcvNxt = _tcb.RcvNxt;
            key |= UserTcpPollEvents.In;
        }
        bool error = HasUnreportedError;
        if (_tcb.State != watch.SeenState || error != watch.SeenError)
        {
            watch.SeenState = _tcb.State;
            watch.SeenError = error;
            key |= UserTcpPollEvents.In | UserTcpPollEvents.Out | UserTcpPollEvents.Error | UserTcpPollEvents.Hangup | UserTcpPollEvents.ReadHangup;
        }
        if (watch.NoSpace && (_tcb.IsWritable || _tcb.IsSendShutdown || _tcb.State == TcpState.Closed))
        {
            watch.NoSpace = false;
            key |= UserTcpPollEvents.Out;
        }
        if (key == UserTcpPollEvents.None) return;
        foreach (UserTcpEventPoll.Registration registration in watch.Watchers) registration.Wake(key);
    }
}
