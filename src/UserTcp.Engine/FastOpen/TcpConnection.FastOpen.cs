using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>The server side of TCP Fast Open (RFC 7413 §4.2.2) on one connection.</summary>
public sealed partial class TcpConnection
{
    /// <summary>
    /// A passive Fast Open connection (Linux's tcp_passive_fastopen; TCPI_OPT_TFO_CHILD): made from a SYN with a valid
    /// cookie (or none needed), it went to the accept queue at once, before the handshake's ACK.
    /// </summary>
    public bool IsFastOpenChild => Has(ConnectionFlags.FastOpenChild);

    /// <summary>The data of the peer's SYN was taken and acknowledged in our SYN-ACK (Linux's syn_data_acked; TCPI_OPT_SYN_DATA).</summary>
    public bool SynDataAcknowledged => Has(ConnectionFlags.SynDataAcked);

    /// <summary>
    /// A Fast Open connection in SYN-RECEIVED (Linux's tcp_passive_fastopen): it may send, and poll reports it readable
    /// and writable, before the handshake's ACK, as tcp_sendmsg_locked and tcp_poll treat it; its data goes after the
    /// SYN-ACK, in the same pass.
    /// </summary>
    public bool SendsBeforeHandshake => State == TcpState.SynReceived && IsFastOpenChild;

    /// <summary>
    /// The handshake's ACK of a Fast Open connection, once ESTABLISHED: it acknowledges or SACKs the data sent before it
    /// as any ACK does (Linux's tcp_ack runs on it), then the retransmission timer, the SYN-ACK's until now, restarts for
    /// what is still in flight (tcp_rcv_synrecv_state_fastopen's tcp_rearm_rto).
    /// </summary>
    private void OnFastOpenHandshakeAck(TimeSpan now, in TcpSegment seg)
    {
        if (!_sender.SynAckOutstanding) return;
        if (_sender.SndMax > _sender.SndUna)
        {
            _sender.OnAck(now, seg.AcknowledgmentNumber, seg.Options, mayBeDuplicate: false);
            OnAcknowledged(now);
        }
        _sender.OnFastOpenHandshakeDone(now, _options.Timestamps ? seg.Options.Timestamp?.EchoReply : null);
    }

    /// <summary>
    /// Opens from a Fast Open SYN: SYN-RECEIVED with the SYN's data already readable, so the SYN-ACK acknowledges it
    /// (tcp_fastopen_create_child, tcp_fastopen_add_skb). A SYN with FIN never gets here: the listener drops it, as Linux's.
    /// </summary>
    internal void OpenFastOpenChild(TimeSpan now, in TcpSegment syn, TcpCause cause, TcpFastOpenKind cookieToSend)
    {
        OpenPassive(now, syn, cause);
        InSynQueue = false; // the accept queue holds it from the start
        Set(ConnectionFlags.FastOpenChild, true);
        // Linux's tcp_fastopen_create_child runs tcp_init_transfer now, with no RTT yet: BBR's first rate from a nominal 1 ms.
        _sender.InitCongestionControl();
        if (!syn.Payload.IsEmpty)
        {
            _receiver.TakeSynData(syn.Payload);
            Set(ConnectionFlags.SynDataAcked, true);
        }
        if (cookieToSend != TcpFastOpenKind.None) SendFastOpenCookie(cookieToSend);
    }

    /// <summary>Our first SYN-ACK carries a cookie in an option of <paramref name="kind"/> (a request's answer, or a fresh one for a bad cookie).</summary>
    internal void SendFastOpenCookie(TcpFastOpenKind kind)
    {
        Set(ConnectionFlags.FastOpenCookieDue, true);
        Set(ConnectionFlags.FastOpenCookieExperimental, kind == TcpFastOpenKind.Experimental);
    }

    /// <summary>accept() took this connection from the listener's queue.</summary>
    internal void OnAccepted()
    {
        if (IsFastOpenChild) Set(ConnectionFlags.FastOpenAccepted, true);
    }

    /// <summary>
    /// The cookie goes in the first SYN-ACK only: Linux's SYN-ACK retransmissions (tcp_rtx_synack) carry none. It is made
    /// now from the key and the addresses, so a connection holds two bits for it, not the cookie.
    /// </summary>
    private void AddFastOpenCookie(ref TcpOptions options)
    {
        if (!Has(ConnectionFlags.FastOpenCookieDue) || Listener is null) return;
        Set(ConnectionFlags.FastOpenCookieDue, false);
        TcpFastOpenKind kind = Has(ConnectionFlags.FastOpenCookieExperimental) ? TcpFastOpenKind.Experimental : TcpFastOpenKind.Rfc7413;
        options.SetFastOpen(kind, _engine.FastOpenCookieFor(Listener, Id));
    }

    /// <summary>A Fast Open connection leaving SYN-RECEIVED gives its place in the listener's Fast Open queue back.</summary>
    private void LeftSynReceived(TcpState next, TcpCause cause)
    {
        if (!IsFastOpenChild || Listener is null) return;
        Listener.FastOpenChildLeft(_engine.Now, resetAfterAccept: next == TcpState.Closed && cause == TcpCause.ResetReceived && Has(ConnectionFlags.FastOpenAccepted));
    }
}
