using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What the path MTU probe allows a dispatch (Linux's tcp_mtu_probe returns -1, 0 or 1).</summary>
internal enum MtuProbeStep : byte
{
    /// <summary>No probe now: send as usual.</summary>
    None,
    /// <summary>A probe may go once cwnd or the peer's window has room for it: no new data meanwhile.</summary>
    Wait,
    /// <summary>The probe is ready to go.</summary>
    Probe,
}

/// <summary>
/// Packetization-layer path MTU discovery (RFC 4821) as Linux 6.x runs it: one segment larger than the MSS, built from
/// queued data, searches upward; its ACK raises the segment size and rescales cwnd, its loss lowers the top of the search
/// and is resent at the current size without a cwnd reduction. The search itself is <see cref="MtuProbeSearch"/>.
/// </summary>
internal sealed partial class Sender
{
    /// <summary>The path MTU search; null when <see cref="TcpConfig.MtuProbing"/> is off.</summary>
    public MtuProbeSearch? MtuSearch { get; set; }

    /// <summary>
    /// Linux's tcp_mtu_probe, at the start of a dispatch: a probe of the search's next size goes when probing is on and
    /// none is in flight, the connection is Open with cwnd of at least 11 segments and no SACK blocks to send, the probe
    /// and (reordering + 1) segments more are queued and fit the peer's window, and cwnd has room for two segments more
    /// than are in flight (with some in flight, the dispatch waits for that room; with none, it sends as usual).
    /// </summary>
    public MtuProbeStep TryMtuProbe(TimeSpan now, int sackOptionBytes, out Transmission probe)
    {
        probe = default;
        if (MtuSearch is not { Enabled: true, ProbeSize: 0 } search || ProbeDue || ProbePairDue || sackOptionBytes > 0
            || CongestionState != TcpCongestionState.Open || CongestionWindow / Mss < MinProbeCwnd)
        {
            return MtuProbeStep.None;
        }
        int size = search.NextProbe(now, SegmentMss);
        if (size == 0) return MtuProbeStep.None;
        int needed = size + (Reordering + 1) * Mss;
        if (Buffer.End - SndMax < needed || SndWnd < needed) return MtuProbeStep.None;
        if ((long)needed > SndWnd - (long)(SndMax - SndUna)) return MtuProbeStep.Wait; // past the window's right edge
        int inFlight = Segments(InFlight);
        if (inFlight + 2 > CongestionWindow / Mss) return inFlight == 0 ? MtuProbeStep.None : MtuProbeStep.Wait;
        // Linux's tcp_can_coalesce_send_queue_head: a probe never joins data across the end of a record (MSG_EOR).
        SeqNumber? recordEnd = Buffer.NextRecordEnd(SndMax);
        if (recordEnd is SeqNumber end && end < SndMax + size) return MtuProbeStep.None;
        if (search.MssToMtu(size) > search.PathMtu)
        {
            // Too large for the route itself, which UserTcp's device would refuse: the search syncs with the route first.
            search.Sync();
            return MtuProbeStep.None;
        }
        probe = NewData(size, recordEnd);
        return MtuProbeStep.Probe;
    }

    // Linux's tcp_mtu_probe: no probe below a cwnd of 11 segments.
    private const int MinProbeCwnd = 11;

    /// <summary>The probe left: it is remembered, and cwnd gives up a segment, as the probe counts as two (Linux's snd_cwnd--).</summary>
    public void OnMtuProbeSent(in Transmission probe)
    {
        MtuSearch!.OnProbeSent(probe.Length, probe.Seq, probe.End);
        _congestion.SetForMtuProbe(Math.Max(Mss, _congestion.Window - Mss), _congestion.SlowStartThreshold);
    }

    /// <summary>
    /// The bytes by which the probe, while in the network, is larger than the MSS: Linux counts it one packet in flight
    /// (tcp_packets_in_flight), so <see cref="InFlight"/> leaves them out and cwnd has room for as many segments after it.
    /// </summary>
    private int MtuProbeExcess
    {
        get
        {
            if (MtuSearch is not { ProbeSize: > 0 } search || SndUna >= search.ProbeEnd) return 0;
            SentSegment probe = _queue[_queue.IndexEndingAfter(search.ProbeStart)];
            bool inNetwork = !probe.Is(SegmentMarks.Sacked) && (!probe.Is(SegmentMarks.Lost) || probe.Is(SegmentMarks.Retransmitted));
            return inNetwork ? Math.Max(0, probe.Length - Mss) : 0;
        }
    }

    /// <summary>
    /// Linux's tcp_mtup_probe_success, when SND.UNA passes the probe (tcp_clean_rtx_queue, before cwnd grows from the
    /// ACK): the probe's size is the new bottom of the search and sets the segment size; cwnd keeps its bytes in
    /// the larger packets (cwnd × the old packet size / the probe's), and ssthresh at least 3/4 of it. True when so:
    /// the ACK then grows cwnd by the segments it delivered, not their bytes (Sender.OnAck).
    /// </summary>
    private bool TakeMtuProbeAck()
    {
        if (MtuSearch is not { ProbeSize: > 0 } search || SndUna < search.ProbeEnd) return false;
        long packets = Math.Max(1, (long)(_congestion.Window / Mss) * search.MssToMtu(Mss) / search.ProbeSize);
        long ssthresh = Math.Max(_congestion.SlowStartThreshold / Mss, (packets >> 1) + (packets >> 2));
        search.OnProbeAcknowledged();
        ApplyMss(search.Sync());
        _congestion.SetForMtuProbe((int)Math.Min(int.MaxValue / 2, packets * Mss), (int)Math.Min(int.MaxValue, ssthresh * Mss));
        return true;
    }

    /// <summary>
    /// Linux's tcp_fastretrans_alert when loss is found in Open or Disorder and SND.UNA is the probe's start: the probe was
    /// too large, not a congestion loss — no recovery, cwnd gets back the segment the probe took, and what is larger than
    /// the MSS is cut and resent (tcp_simple_retransmit: ssthresh at least 3/4 of cwnd, and Loss until what is in flight
    /// now is acknowledged, nothing to undo). True when so, in place of entering recovery.
    /// </summary>
    private bool TakeMtuProbeLoss()
    {
        if (MtuSearch is not { ProbeSize: > 0 } search || InCwr || InLoss || SndUna != search.ProbeStart) return false;
        search.OnProbeLost();
        int window = _congestion.Window + Mss;
        _congestion.SetForMtuProbe(window, Math.Max(_congestion.SlowStartThreshold, (window >> 1) + (window >> 2)));
        CutLargerThanMss();
        _recoveryPoint = SndMax;
        LossPhase = true;
        if (_undo is not null) _undo.Armed = false;
        return true;
    }

    /// <summary>A path MTU probe is in flight: a timeout now runs no F-RTO (Linux's tcp_enter_loss), its Loss phase resends.</summary>
    private bool MtuProbeInFlight => MtuSearch is { ProbeSize: > 0 };

    /// <summary>
    /// A retransmission left (or was refused): a probe in flight is forgotten, neither success nor failure, its search
    /// as it was (Linux's __tcp_retransmit_skb: "Inconclusive MTU probe"), so the ACK of its pieces raises nothing.
    /// </summary>
    private void ForgetMtuProbe()
    {
        if (MtuSearch is { ProbeSize: > 0 } search) search.OnProbeInconclusive();
    }

    /// <summary>
    /// Before the segment at <paramref name="index"/> goes again: one larger than the MSS (a probe) is cut to it, and the
    /// resend takes the first piece (Linux's __tcp_retransmit_skb fragments at cur_mss). Returns the index to resend.
    /// </summary>
    private int CutForResend(int index)
    {
        SentSegment segment = _queue[index];
        if (segment.DataLength <= Mss) return index;
        SeqNumber start = segment.Start;
        _queue.SplitSegment(index, Mss);
        return _queue.IndexEndingAfter(start);
    }

    /// <summary>Linux's tcp_sync_mss: segments carry <paramref name="payload"/> bytes from now on; what is in flight and larger is cut and resent (<see cref="LowerMss"/>).</summary>
    public void ApplyMss(int payload)
    {
        if (!LowerMss(payload, fixedOptionBytes: 0)) Mss = payload;
    }

    private void CutLargerThanMss()
    {
        if (_queue.SplitLargerThan(Mss) == 0) return;
        _lossCause = TcpCause.PathMtuReduced;
        _rttSeq = null; // Karn's rule: what is timed may go again
    }
}
