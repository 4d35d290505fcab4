using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Explicit Congestion Notification (RFC 3168 §6.1), as Linux's tcp_ecn_* functions have it: the handshake's
/// agreement, the ECN bits of what is sent, and the receiver's echo of CE marks. The sender's reduction is Sender.Ecn.cs's.
/// </summary>
public sealed partial class TcpConnection
{
    /// <summary>Both SYNs agreed on ECN (RFC 3168 §6.1.1; TCPI_OPT_ECN): new data leaves ECT(0) and congestion marks are echoed.</summary>
    public bool EcnEnabled => EcnOk && State != TcpState.SynSent;
    /// <summary>An ECT or CE codepoint has arrived on data of this ECN connection (Linux's TCP_ECN_SEEN; TCPI_OPT_ECN_SEEN).</summary>
    public bool EcnSeen => Has(ConnectionFlags.EcnSeen);
    /// <summary>Congestion marks (CE) are being echoed with ECE until a segment with CWR arrives (RFC 3168 §6.1.3).</summary>
    internal bool EcnEchoing => Has(ConnectionFlags.EcnDemandCwr);
    /// <summary>Window reductions ECN echoes started over the connection's life (at most one per window of data).</summary>
    public int EcnReductions => _sender.EcnReductions;

    // Linux's TCP_ECN_OK: requested (SYN-SENT), then agreed; cleared by a peer that does not agree.
    private bool EcnOk { get => Has(ConnectionFlags.EcnOk); set => Set(ConnectionFlags.EcnOk, value); }
    private bool EcnDemandCwr { get => Has(ConnectionFlags.EcnDemandCwr); set => Set(ConnectionFlags.EcnDemandCwr, value); }

    /// <summary>Active open: a SYN with ECE and CWR asks for ECN (RFC 3168 §6.1.1) when the configuration requests it.</summary>
    private void RequestEcn() => EcnOk = _config.Ecn == EcnMode.Request;

    /// <summary>
    /// The ECN bits of our SYN or SYN-ACK (Linux's tcp_ecn_send_syn, tcp_ecn_clear_syn, tcp_ecn_make_synack): a SYN that
    /// requests carries ECE and CWR, but a retransmitted one not with <see cref="TcpConfig.EcnFallback"/> (RFC 3168
    /// §6.1.1.1: a middlebox may drop it for them); a SYN-ACK that agrees carries ECE alone.
    /// </summary>
    private TcpFlags SynEcnFlags(bool synAck, bool retransmission)
    {
        if (!EcnOk) return TcpFlags.None;
        if (synAck) return TcpFlags.Ece;
        return retransmission && _config.EcnFallback ? TcpFlags.None : TcpFlags.Ece | TcpFlags.Cwr;
    }

    /// <summary>
    /// Passive open (Linux's tcp_ecn_create_request): agree when configured to and the SYN is an ECN-setup SYN (ECE and
    /// CWR), itself sent Not-ECT (RFC 3168 §6.1.1: a SYN must not be ECT; one that is marked so says a path rewrites the
    /// field) unless its reserved bits are set.
    /// </summary>
    private void TakeSynEcn(in TcpSegment syn) => EcnOk = AgreesToEcn(syn, _config);

    /// <summary>Whether a listener with <paramref name="config"/> agrees to the ECN a SYN asks for (a SYN cookie's answer too).</summary>
    internal static bool AgreesToEcn(in TcpSegment syn, TcpConfig config) =>
        config.Ecn != EcnMode.Off && syn.Has(TcpFlags.Ece | TcpFlags.Cwr) && (syn.Ecn == EcnCodepoint.NotEct || syn.Reserved != 0);

    /// <summary>
    /// SYN-SENT (Linux's tcp_ecn_rcv_synack and tcp_ecn_rcv_syn): a SYN-ACK agrees with ECE alone (ECE and CWR both are
    /// a peer that reflects the bits, not an agreement, RFC 3168 §6.1.1); a simultaneous open's SYN with ECE and CWR.
    /// </summary>
    private void TakePeerEcnAnswer(in TcpSegment seg)
    {
        if (!EcnOk) return;
        bool agrees = seg.Has(TcpFlags.Ack) ? seg.Has(TcpFlags.Ece) && !seg.Has(TcpFlags.Cwr) : seg.Has(TcpFlags.Ece | TcpFlags.Cwr);
        if (!agrees) EcnOk = false;
    }

    /// <summary>The ECE bit of every synchronized segment while CE marks are being echoed (Linux's tcp_ecn_send).</summary>
    private TcpFlags EchoFlag => EcnDemandCwr ? TcpFlags.Ece : TcpFlags.None;

    /// <summary>
    /// Data arrived in the window (Linux's tcp_data_queue, tcp_ecn_accept_cwr then tcp_ecn_check_ce): CWR ends the echo,
    /// and is acknowledged at once (its sender's cwnd may be one segment); then the codepoint of new data: CE starts the
    /// echo, and the ACKs of it and of the next segment go at once (tcp_enter_quickack_mode with 2, for a sender whose
    /// window may be small); Not-ECT after ECT was seen is likely a retransmission, acknowledged at once as well.
    /// </summary>
    private void OnEcnText(in TcpSegment seg, bool newData)
    {
        if (!EcnEnabled) return;
        if (seg.Has(TcpFlags.Cwr) && seg.SegmentLength > 0)
        {
            EcnDemandCwr = false;
            _receiver.AckNow = true;
        }
        if (!newData) return;
        switch (seg.Ecn)
        {
            case EcnCodepoint.NotEct:
                if (EcnSeen) _receiver.EnterQuickAckMode(EcnQuickAcks);
                break;
            case EcnCodepoint.Ce:
                _engine.Counters.Count(MibCounter.UserTcpEcnCeReceived);
                if (!EcnDemandCwr)
                {
                    _receiver.EnterQuickAckMode(EcnQuickAcks);
                    EcnDemandCwr = true;
                }
                Set(ConnectionFlags.EcnSeen, true);
                break;
            default:
                Set(ConnectionFlags.EcnSeen, true);
                break;
        }
    }

    /// <summary>Linux's tcp_enter_quickack_mode(sk, 2) in __tcp_ecn_check_ce.</summary>
    private const int EcnQuickAcks = 2;

    /// <summary>An ECN echo started a window reduction (Sender.Ecn.cs): counted, and reported as an event.</summary>
    private void OnEcnReduction(TimeSpan now)
    {
        _engine.Counters.Count(MibCounter.UserTcpEcnEchoReductions);
        _engine.Emit(new TcpEvent(now, TcpEventKind.CongestionWindowReduced, Id, State, State, TcpCause.EcnEcho));
    }
}
