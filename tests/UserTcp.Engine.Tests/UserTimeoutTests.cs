using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TCP_USER_TIMEOUT on unacknowledged data counts from the first retransmission (Linux's retrans_stamp, which
/// tcp_retransmit_skb stamps with the resend's time), not from the original send: measured on Linux 6.18.
/// </summary>
public class UserTimeoutTests
{
    [Fact]
    public void Unacknowledged_data_times_out_the_user_timeout_after_its_first_retransmission()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { UserTimeout = S(1) }); // RTO 200 ms
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);

        Assert.Equal(Ms(200), h.AdvanceToNextDeadline()); // the first retransmission: the user timeout starts
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Ms(600), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        h.ExpectNothing();

        h.AdvanceTo(Ms(1000)); // 1 s after the send: still open (it closed here before)
        h.ExpectNothing();
        Assert.Equal(TcpState.Established, c.State);
        h.AdvanceTo(Ms(1199));
        Assert.Equal(TcpState.Established, c.State);

        Assert.Equal(Ms(1200), h.AdvanceToNextDeadline()); // 1 s after the first retransmission, before the next RTO (1.4 s)
        h.ExpectNothing(); // tcp_write_err: no RST, no further retransmission
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
    }

    [Fact]
    public void A_fast_retransmission_starts_the_user_timeout_that_a_later_timeout_ends()
    {
        // Linux stamps retrans_stamp at the first retransmission whatever sent it; the RTO that follows counts from there.
        (Harness h, TcpConnection c) = Established(new TcpConfig { UserTimeout = S(1) }); // RTO 200 ms
        c.Send(Bytes(5 * 1460));
        h.Poll();
        for (int i = 0; i < 5; i++) h.Next();
        h.AdvanceTo(Ms(50));
        for (int i = 0; i < 3; i++) h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // the first segment lost: three duplicate ACKs
        Sent resent = h.Next();
        Assert.Equal(Our(0), resent.Seq);
        h.DrainSent();

        for (int i = 0; i < 10 && c.State == TcpState.Established; i++)
        {
            h.AdvanceToNextDeadline();
            h.DrainSent(); // every retransmission is lost too
        }
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Equal(Ms(1050), h.Now); // 1 s after the fast retransmission at 50 ms
    }

    [Fact]
    public void A_loss_probe_does_not_start_the_user_timeout()
    {
        // A lone segment is first resent as a loss probe (without backoff); Linux's tcp_send_loss_probe resends it by
        // __tcp_retransmit_skb, which leaves retrans_stamp alone, so the user timeout counts from the RTO's resend after it.
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(100), new TcpConfig { UserTimeout = S(1), RtoFormula = RtoFormula.Linux },
            new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true }); // RTO 300 ms; SACK, which loss probes need
        TimeSpan start = h.Now;
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        var resends = new List<TimeSpan>();
        for (int i = 0; i < 10 && c.State == TcpState.Established; i++)
        {
            TimeSpan at = h.AdvanceToNextDeadline();
            if (h.TryNext() is not null) resends.Add(at - start);
        }
        Assert.Equal([Ms(300), Ms(600), Ms(1200)], resends); // the probe in the RTO's place, then the timeouts (300 ms, 600 ms)
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Equal(Ms(1600), h.Now - start); // 1 s after the first timeout's resend, not the probe's
    }
}
