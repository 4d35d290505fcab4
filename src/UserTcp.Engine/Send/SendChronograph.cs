namespace UserTcp.Engine;

/// <summary>What limits a sender with data to send, as Linux's chronograph (tcp_chrono_*) tells them apart.</summary>
internal enum SendLimit : byte
{
    /// <summary>Nothing queued: the clock stands.</summary>
    None,
    /// <summary>Data queued or in flight, limited by nothing below (or by cwnd).</summary>
    Busy,
    /// <summary>Data waits that the peer's window does not admit (tcpi_rwnd_limited).</summary>
    ReceiveWindow,
    /// <summary>Everything written is sent, cwnd has room, and the application waits for send-buffer room (tcpi_sndbuf_limited).</summary>
    SendBuffer,
}

/// <summary>
/// TCP_INFO's busy, rwnd-limited and sndbuf-limited times (Linux's tcp_chrono_start, tcp_chrono_stop): one limit is
/// timed at a time, a higher one taking over from a lower one; when the limit that is timed ends, the clock goes back
/// to busy while data is queued, and stops when none is. Kept as Linux keeps it, in 32-bit counts of a millisecond tick
/// (its u32 jiffies at HZ 1000, wrapping after 49 days): 18 bytes inside every connection, no object of its own.
/// </summary>
internal struct SendChronograph
{
    private uint _since;
    private uint _busy, _receiveWindow, _sendBuffer;
    private SendLimit _limit;

    public readonly SendLimit Limit => _limit;

    /// <summary>Whether anything was ever timed: the clock starts with the first write.</summary>
    public bool Started { readonly get; private set; }

    /// <summary>tcp_chrono_start: <paramref name="limit"/> begins, unless a higher one is timed already.</summary>
    public void Start(SendLimit limit, TimeSpan now)
    {
        Started = true;
        if (limit > _limit) Switch(limit, now);
    }

    /// <summary>tcp_chrono_stop: <paramref name="limit"/> ended; with nothing queued the clock stops.</summary>
    public void Stop(SendLimit limit, TimeSpan now, bool nothingQueued)
    {
        if (nothingQueued) Switch(SendLimit.None, now);
        else if (limit == _limit) Switch(SendLimit.Busy, now);
    }

    /// <summary>The totals now: busy (every limit counted, as tcpi_busy_time), rwnd-limited and sndbuf-limited.</summary>
    public readonly (TimeSpan Busy, TimeSpan ReceiveWindow, TimeSpan SendBuffer) Totals(TimeSpan now)
    {
        uint running = _limit == SendLimit.None ? 0 : unchecked(Tick(now) - _since);
        uint busy = _busy + (_limit == SendLimit.Busy ? running : 0);
        uint window = _receiveWindow + (_limit == SendLimit.ReceiveWindow ? running : 0);
        uint buffer = _sendBuffer + (_limit == SendLimit.SendBuffer ? running : 0);
        return (Span(busy + window + buffer), Span(window), Span(buffer));
    }

    private void Switch(SendLimit limit, TimeSpan now)
    {
        uint tick = Tick(now);
        uint elapsed = unchecked(tick - _since);
        switch (_limit)
        {
            case SendLimit.Busy: _busy += elapsed; break;
            case SendLimit.ReceiveWindow: _receiveWindow += elapsed; break;
            case SendLimit.SendBuffer: _sendBuffer += elapsed; break;
        }
        _limit = limit;
        _since = tick;
    }

    private static uint Tick(TimeSpan now) => unchecked((uint)(long)now.TotalMilliseconds);

    private static TimeSpan Span(uint milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
