using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>
/// An accepted Fast Open connection sends before the handshake's ACK (RFC 7413 §4.2.2; Linux's tcp_passive_fastopen in
/// tcp_sendmsg_locked), under its SYN-ACK's timer (tcp_fastopen_synack_timer, tcp_rcv_synrecv_state_fastopen).
/// </summary>
public class FastOpenChildSendTests
{
    private static readonly FastOpenKey Key = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
    private static readonly byte[] Request = "0123456789"u8.ToArray();
    private const uint DataAck = PeerIsn + 1 + 10; // the SYN and its 10 bytes

    /// <summary>A Fast Open connection accepted from a SYN with a valid cookie and 10 bytes; its SYN-ACK is consumed.</summary>
    private static (Harness H, TcpConnection Child) Accepted(bool sack = false)
    {
        var h = new Harness(new TcpConfig { FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = Key });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, 128);
        listener.FastOpenQueueLength = 16;
        TcpOptions options = PeerSynOptions;
        options.SackPermitted = sack;
        options.SetFastOpen(TcpFastOpenKind.Rfc7413, FastOpenServerCookies.Make(Key.Primary, Harness.PeerAddress, Harness.LocalAddress));
        h.Send(TcpFlags.Syn, PeerIsn, options: options, payload: Request);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        Assert.True(listener.TryAccept(out TcpConnection child));
        Assert.Equal(TcpState.SynReceived, child.State);
        Assert.True(child.SendsBeforeHandshake);
        return (h, child);
    }

    [Fact]
    public void Its_write_goes_before_the_handshakes_ack_and_no_loss_probe_follows()
    {
        (Harness h, TcpConnection child) = Accepted(sack: true);
        Assert.Equal(100, child.Send(new byte[100]));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        h.ExpectNothing();
        // The only deadline is the SYN-ACK's, 1 s after it, not a loss probe's (Linux's tcp_schedule_loss_probe with fastopen_rsk).
        Assert.Equal(TimeSpan.FromSeconds(1), h.Engine.PollAt);

        h.Advance(TimeSpan.FromMilliseconds(50));
        h.Send(TcpFlags.Ack, DataAck, unchecked(Isn + 1 + 100), window: 502); // ISS is near 2^32: this wraps
        Assert.Equal(TcpState.Established, child.State);
        Assert.False(child.SendsBeforeHandshake);
        Assert.Equal(child.SndMax, child.SndUna); // the data acknowledged as any data
        h.ExpectNothing();
    }

    [Fact]
    public void A_syn_ack_timeout_resends_only_the_syn_ack_and_the_data_waits()
    {
        (Harness h, TcpConnection child) = Accepted(sack: true);
        child.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        Assert.Equal(TimeSpan.FromSeconds(1), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck); // not the data (tcp_retransmit_timer hands over to tcp_fastopen_synack_timer)
        h.ExpectNothing();
        // A full segment more goes at once, and arms no loss probe before the SYN-ACK's next timeout (a probe's 1 s would come first).
        child.Send(new byte[1460]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Isn + 1 + 100), DataAck, payloadLength: 1460);
        Assert.Equal(TimeSpan.FromSeconds(3), h.AdvanceToNextDeadline()); // backed off: 2 s more
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        h.ExpectNothing();
    }

    [Fact]
    public void After_the_handshakes_ack_the_data_still_in_flight_gets_a_timer_from_then()
    {
        (Harness h, TcpConnection child) = Accepted();
        child.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        // The handshake's ACK at 600 ms acknowledges the SYN-ACK only: its RTT (600 ms) makes the RTO 1.8 s, run from now
        // (Linux's tcp_rearm_rto in tcp_rcv_synrecv_state_fastopen), not from the data's send nor the SYN-ACK's 1 s.
        h.Advance(TimeSpan.FromMilliseconds(600));
        h.Send(TcpFlags.Ack, DataAck, Isn + 1, window: 502);
        Assert.Equal(TcpState.Established, child.State);
        h.ExpectNothing();
        Assert.Equal(TimeSpan.FromMilliseconds(600 + 1800), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        h.ExpectNothing();
    }

    [Fact]
    public void One_syn_ack_timeout_keeps_the_window_and_the_data_waits_for_an_rto_from_the_handshakes_ack()
    {
        (Harness h, TcpConnection child) = Accepted();
        child.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        h.Advance(TimeSpan.FromMilliseconds(500));
        h.Send(TcpFlags.Ack, DataAck, Isn + 1, window: 502);
        h.ExpectNothing();
        TcpConnectionInfo info = child.Info();
        Assert.Equal(10 * 1460, info.CongestionWindow); // Linux set it when it made the connection (tcp_init_transfer)
        Assert.Equal(TcpCongestionState.Open, info.CongestionState);
        Assert.Equal(TimeSpan.FromSeconds(3), info.Rto); // no RTT sample from a resent SYN-ACK: RFC 6298 §5.7
        Assert.Equal(TimeSpan.FromMilliseconds(1500 + 3000), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        h.ExpectNothing();
    }

    [Fact]
    public void After_two_syn_ack_timeouts_the_handshakes_ack_finds_the_data_lost_and_resends_its_first_segment_at_once()
    {
        (Harness h, TcpConnection child) = Accepted();
        child.Send(new byte[3000]);
        h.Poll();
        h.Expect(TcpFlags.Ack, Isn + 1, DataAck, payloadLength: 1460);
        h.Expect(TcpFlags.Ack, unchecked(Isn + 1 + 1460), DataAck, payloadLength: 1460);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Isn + 1 + 2920), DataAck, payloadLength: 80);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        h.ExpectNothing();

        h.Advance(TimeSpan.FromMilliseconds(500));
        h.Send(TcpFlags.Ack, DataAck, Isn + 1, window: 502);
        h.Expect(TcpFlags.Ack, Isn + 1, DataAck, payloadLength: 1460); // Linux's Loss state, entered at the second timeout
        h.ExpectNothing(); // one segment: cwnd 1
        TcpConnectionInfo info = child.Info();
        Assert.Equal(TcpCongestionState.Loss, info.CongestionState);
        Assert.Equal(1460, info.CongestionWindow);
        Assert.Equal(TimeSpan.FromSeconds(3), info.Rto);
    }

    [Fact]
    public void Its_syn_ack_gives_up_after_one_retry_more_than_an_ordinary_one()
    {
        (Harness h, TcpConnection child) = Accepted();
        child.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, DataAck, payloadLength: 100);
        int retries = h.Config.SynAckRetries + 1;
        for (int i = 0; i < retries; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
            h.ExpectNothing();
        }
        h.AdvanceToNextDeadline();
        Assert.Equal(TcpState.Closed, child.State);
        Assert.Equal(TcpError.TimedOut, child.Error);
    }
}
