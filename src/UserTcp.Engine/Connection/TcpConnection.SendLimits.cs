namespace UserTcp.Engine;

/// <summary>
/// Why the sender waits, timed as Linux's chronograph does for TCP_INFO (tcpi_busy_time, tcpi_rwnd_limited,
/// tcpi_sndbuf_limited): busy while data is queued, limited by the peer's window when data waits that it does not
/// admit, limited by the send buffer when everything written is sent, cwnd has room and the application waits for room.
/// </summary>
public sealed partial class TcpConnection
{
    // Inline and compact (docs/design.md, memory per connection): an object of its own cost an idle connection 64 bytes.
    private SendChronograph _chrono;
    // Linux's SOCK_NOSPACE: a write found no room for all it had; cleared when room comes back (sk_stream_write_space).
    private bool WriterBlocked { get => Has(ConnectionFlags.WriterBlocked); set => Set(ConnectionFlags.WriterBlocked, value); }

    /// <summary>A write queued <paramref name="accepted"/> of <paramref name="requested"/> bytes (tcp_skb_entail starts the busy clock).</summary>
    private void OnWritten(TimeSpan now, int requested, int accepted)
    {
        if (accepted > 0) _chrono.Start(SendLimit.Busy, now);
        if (accepted < requested) WriterBlocked = true;
    }

    /// <summary>A dispatch sent <paramref name="sent"/> segments (the end of Linux's tcp_write_xmit, and tcp_cwnd_validate).</summary>
    private void OnDispatched(TimeSpan now, int sent)
    {
        if (!_chrono.Started || sent == 0 && _sender.NotSentBytes == 0) return; // tcp_write_xmit runs only with data to send
        if (_sender.ReceiveWindowLimited) _chrono.Start(SendLimit.ReceiveWindow, now);
        else _chrono.Stop(SendLimit.ReceiveWindow, now, nothingQueued: _sender.Buffer.Count == 0);
        if (sent > 0 && !_sender.CwndLimitedNow && _sender.NotSentBytes == 0 && WriterBlocked && State is TcpState.Established or TcpState.CloseWait)
        {
            _chrono.Start(SendLimit.SendBuffer, now);
        }
    }

    /// <summary>An ACK was taken: nothing queued stops the clock (tcp_clean_rtx_queue); room for the blocked writer ends the sndbuf limit (tcp_check_space).</summary>
    private void OnAcknowledged(TimeSpan now)
    {
        if (!_chrono.Started) return;
        bool nothingQueued = _sender.Buffer.Count == 0;
        if (nothingQueued) _chrono.Stop(SendLimit.Busy, now, nothingQueued: true);
        if (WriterBlocked && _sender.IsWritable(EffectiveNotSentLowWatermark))
        {
            WriterBlocked = false;
            _chrono.Stop(SendLimit.SendBuffer, now, nothingQueued);
        }
    }
}
