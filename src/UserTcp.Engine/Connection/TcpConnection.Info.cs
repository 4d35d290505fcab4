namespace UserTcp.Engine;

/// <summary>TCP_INFO: the connection's state gathered from its sender, receiver and options at one moment.</summary>
public sealed partial class TcpConnection
{
    // When the connection reached ESTABLISHED (Linux starts lrcvtime there: tcpi_last_data_recv before any data).
    private TimeSpan _establishedAt;

    /// <summary>Bytes written and never sent yet (SIOCOUTQNSD, tcpi_notsent_bytes).</summary>
    public int BytesNotSent => _sender.NotSentBytes;

    /// <summary>The connection as Linux's getsockopt(TCP_INFO) would describe it now.</summary>
    public TcpConnectionInfo Info()
    {
        TimeSpan now = _engine.Now;
        (int unacked, int sacked) = _sender.CountUnackedAndSacked();
        (int lost, int retransmitted) = _sender.CountLostAndRetransmitted();
        TimeSpan lastData = _receiver.LastDataAt ?? _establishedAt;
        (TimeSpan busy, TimeSpan windowLimited, TimeSpan bufferLimited) = _chrono.Totals(now);
        return new TcpConnectionInfo
        {
            State = State,
            CongestionState = State.IsSynchronized() ? _sender.CongestionState : TcpCongestionState.Open,
            ConsecutiveTimeouts = _sender.Retries,
            Probes = Math.Max(_sender.PersistProbes, _keepAliveProbes),
            Backoff = _sender.Rto.Backoff,
            Rto = _sender.Rto.Rto,
            AckTimeout = _receiver.AckTimeout,
            SendMss = _sender.Mss,
            SegmentMss = _sender.SegmentMss,
            ReceiveMss = _receiver.LargestSegmentReceived > 0 ? Math.Min(_receiver.LargestSegmentReceived, _config.Mss) : Math.Min(_sender.Mss, _config.Mss),
            AdvertisedMss = _config.Mss,
            UnackedSegments = unacked,
            SackedSegments = sacked,
            LostSegments = lost,
            RetransmittedSegments = retransmitted,
            SinceDataReceived = State.IsSynchronized() && now > lastData ? now - lastData : TimeSpan.Zero,
            SmoothedRtt = _sender.Rto.SmoothedRtt,
            RttVariance = _sender.Rto.RttVariance,
            MinRtt = _sender.Rto.MinRtt,
            PacingRate = _sender.PacingRate,
            CongestionWindow = _sender.CongestionWindow,
            SlowStartThreshold = _sender.SlowStartThreshold,
            Reordering = _sender.Reordering,
            ReorderingEvents = _sender.ReorderingEvents,
            TotalRetransmissions = _sender.Retransmissions,
            TotalTimeouts = _sender.Timeouts,
            DeliveredSegments = _sender.DeliveredSegments,
            DeliveredCeSegments = _sender.DeliveredCeSegments,
            SendWindow = _sender.SndWnd,
            ReceiveWindow = _receiver.Window,
            ReceiveSpace = _receiver.Space,
            ReceiveSlowStartThreshold = _receiver.ReceiveSlowStartThreshold,
            ReceiveRtt = _receiver.Rtt,
            ReceiveBufferSize = _receiver.BufferSize,
            NotSentBytes = _sender.NotSentBytes,
            BusyTime = busy,
            ReceiveWindowLimitedTime = windowLimited,
            SendBufferLimitedTime = bufferLimited,
            Sack = _options.Sack,
            Timestamps = _options.Timestamps,
            Ecn = EcnEnabled,
            EcnSeen = EcnSeen,
            FastOpenSynData = FastOpenSynDataAcknowledged || SynDataAcknowledged,
            FastOpenClientFailure = FastOpenClientFailure,
            FastOpenChild = IsFastOpenChild,
            WindowScale = _options.WindowScaling ? (_options.SendWindowShift, _options.ReceiveWindowShift) : null,
        };
    }
}
