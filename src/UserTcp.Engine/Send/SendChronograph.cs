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
/// to busy while data is queued, and stops when none is.
/// </summary>
internal sealed class SendChronograph
{
    private SendLimit _limit;
    private TimeSpan _since;
    private TimeSpan _busy, _receiveWindow, _sendBuffer;

    public SendLimit Limit => _limit;

    /// <summary>tcp_chrono_start: <paramref name="limit"/> begins, unless a higher one is timed already.</summary>
    public void Start(SendLimit limit, TimeSpan now)
    {
        if (limit > _limit) Switch(limit, now);
    }

    /// <summary>tcp_chrono_stop: <paramref name="limit"/> ended; with nothing queued the clock stops.</summary>
    public void Stop(SendLimit limit, TimeSpan now, bool nothingQueued)
    {
        if (nothingQueued) Switch(SendLimit.None, now);
        else if (limit == _limit) Switch(SendLimit.Busy, now);
    }

    /// <summary>The totals now: busy (every limit counted, as tcpi_busy_time), rwnd-limited and sndbuf-limited.</summary>
    public (TimeSpan Busy, TimeSpan ReceiveWindow, TimeSpan SendBuffer) Totals(TimeSpan now)
    {
        TimeSpan running = _limit == SendLimit.None ? TimeSpan.Zero : now - _since;
        TimeSpan busy = _busy + (_limit == SendLimit.Busy ? running : TimeSpan.Zero);
        TimeSpan window = _receiveWindow + (_limit == SendLimit.ReceiveWindow ? running : TimeSpan.Zero);
        TimeSpan buffer = _sendBuffer + (_limit == SendLimit.SendBuffer ? running : TimeSpan.Zero);
        return (busy + window + buffer, window, buffer);
    }

    private void Switch(SendLimit limit, TimeSpan now)
    {
        TimeSpan elapsed = now - _since;
        switch (_limit)
        {
            case SendLimit.Busy: _busy += elapsed; break;
            case SendLimit.ReceiveWindow: _receiveWindow += elapsed; break;
            case SendLimit.SendBuffer: _sendBuffer += elapsed; break;
        }
        _limit = limit;
        _since = now;
    }
}
