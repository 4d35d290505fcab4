using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The receiver's side of Linux's receive window (<see cref="ReceiveWindowModel.Linux"/>, <see cref="LinuxReceiveSpace"/>):
/// where segments, reads and the window choice meet it. docs/design.md "Linux's receive window".
/// </summary>
internal sealed partial class Receiver
{
    /// <summary>Established: Linux's tcp_init_buffer_space sets window_clamp and rcv_ssthresh.</summary>
    public void OnEstablished() => _linux?.Establish(WindowShift, _synWindow);

    /// <summary>
    /// Linux's tcp_event_data_recv, the segment queued: tcp_ofo_queue moves what it made in order, tcp_measure_rcv_mss
    /// learns the ratio from it, and tcp_grow_window raises rcv_ssthresh, which re-arms one quick ACK (quick |= 1).
    /// </summary>
    private void GrowLinuxWindow(SeqNumber segmentEnd, int segmentLength, int ipLength)
    {
        _linux!.Establish(WindowShift, _synWindow); // a Fast Open child takes data before its handshake ends
        _linux.TakeHeld(segmentEnd, RcvNxt, _totalRead + _buffer.Count);
        _linux.MeasureSegment(segmentLength, LinuxReceiveSpace.Truesize(ipLength), _lastWindow);
        if (_linux.Grow(segmentLength, ipLength)) _quickAcks |= 1;
    }

    /// <summary>
    /// tcp_data_queue_ofo: the window grows for a segment held out of order (with SACK only, so a sender without it sees
    /// duplicate ACKs), then its skb is charged.
    /// </summary>
    private void HoldLinux(SeqNumber seq, SeqNumber end, int ipLength)
    {
        _linux!.Establish(WindowShift, _synWindow);
        if (SackEnabled && _linux.Grow(end - seq, ipLength)) _quickAcks |= 1;
        _linux.Hold(seq, end, ipLength);
    }

    /// <summary>
    /// Whether the every-second-segment ACK may go: always with data bytes; with Linux's window only when nothing waits
    /// to be read or the window chosen now is no smaller than the last (__tcp_ack_snd_check: otherwise the read sends it).
    /// </summary>
    private bool WindowKeptByAck => _linux is null || BytesToRead == 0 || SelectWindow() >= _lastWindow;

    /// <summary>tcp_rcvbuf_grow: auto-tuning's window (0: no growth) becomes memory at the current ratio, and the data buffer follows.</summary>
    private void GrowLinuxBuffer(int window)
    {
        if (window <= 0) return;
        _linux!.GrowBuffer(window);
        _buffer.Capacity = Math.Max(_buffer.Capacity, _linux.Buffer);
    }

    /// <summary>__tcp_select_window with Linux's space; less than half the window free ends quick-ACK mode, as there.</summary>
    private long SelectLinuxWindow()
    {
        _linux!.Establish(WindowShift, _synWindow);
        long window = _linux.Select(WindowShift, _lastWindow, out bool endQuickAcks);
        if (endQuickAcks) _quickAcks = 0;
        return Math.Min(window, _buffer.StorableFree); // the stack's buffer memory still bounds it (TcpConfig.MaxBufferMemory)
    }
}
