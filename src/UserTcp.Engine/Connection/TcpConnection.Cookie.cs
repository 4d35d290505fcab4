using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>A passive open completed by a SYN cookie (Listen/SynCookies.cs): SYN-RECEIVED rebuilt from the peer's ACK.</summary>
public sealed partial class TcpConnection
{
    // Made by a SYN cookie's ACK: no SYN-ACK of ours to time, so TCP_DEFER_ACCEPT cannot hold it (Linux's cookie_v4_check).
    private bool FromCookie { get => Has(ConnectionFlags.FromCookie); set => Set(ConnectionFlags.FromCookie, value); }

    /// <summary>
    /// The state a SYN-queue entry would have held, rebuilt from the ACK that returned our cookie: IRS is SEG.SEQ − 1,
    /// our SYN-ACK (ISS = the cookie) counts as sent, and the peer's SYN options are the ones the cookie kept. The
    /// caller then processes the ACK itself, which makes the connection ESTABLISHED.
    /// </summary>
    internal void OpenFromCookie(TimeSpan now, in TcpSegment ack, CookieOptions kept)
    {
        _receiver.Synchronize(ack.SequenceNumber - 1);
        var synOptions = new TcpOptions
        {
            MaxSegmentSize = kept.Mss,
            WindowScale = kept.WindowScale,
            SackPermitted = kept.Sack,
            Timestamp = kept.Timestamps ? ack.Options.Timestamp : null,
        };
        TakePeerSyn(now, synOptions);
        _sender.AssumeSynSent();
        _receiver.SynWindow(answering: true, SynWindowMss); // the window our cookie SYN-ACK offered
        SetState(TcpState.SynReceived, TcpCause.SynCookieReturned);
        InSynQueue = true;
        FromCookie = true;
        EcnOk = kept.Ecn; // the cookie SYN-ACK's ECE, kept in its TSval
        _lastActivity = now;
    }
}
