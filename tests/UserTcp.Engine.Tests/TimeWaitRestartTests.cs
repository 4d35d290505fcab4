using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TIME-WAIT's 2MSL restarts on every segment but a RST that carries an ACK, as Linux's tcp_timewait_state_process
/// ("we must reset the TIMEWAIT timer"); and RFC 1337's TIME-WAIT assassination: the RST the closed peer sends in answer
/// to TIME-WAIT's ACK of an old duplicate ends TIME-WAIT at once (Linux's tcp_rfc1337 = 0), or is ignored (RFC 1337 §3).
/// </summary>
public class TimeWaitRestartTests
{
    private static readonly uint BeforeRcvNxt = PeerIsn + 1 - 100; // 100 bytes the peer sent long ago, acknowledged since

    [Fact]
    public void An_old_duplicate_is_acknowledged_once_and_restarts_2msl()
    {
        (Harness h, TcpConnection c) = TimeWait(); // entered at t = 0, 2MSL 60 s
        h.AdvanceTo(S(20));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, BeforeRcvNxt, Isn + 2, window: PeerWindow, payload: Bytes(100));
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(S(80), c.TimerDeadline(TcpTimer.TimeWait));

        h.AdvanceTo(S(60));
        Assert.Equal(TcpState.TimeWait, c.State); // RFC 9293 alone would have ended it here
        Assert.Equal(S(80), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
    }

    [Fact]
    public void A_bare_ack_at_rcv_nxt_restarts_2msl_and_draws_no_answer()
    {
        (Harness h, TcpConnection c) = TimeWait();
        h.AdvanceTo(S(10));
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: PeerWindow);
        h.ExpectNothing();
        Assert.Equal(S(70), c.TimerDeadline(TcpTimer.TimeWait));
    }

    [Fact]
    public void A_rst_or_a_segment_without_ack_leaves_2msl_where_it_was()
    {
        (Harness h, TcpConnection c) = TimeWait(new TcpConfig { TimeWaitRst = TimeWaitRstPolicy.Ignore });
        h.AdvanceTo(S(10));
        h.Send(TcpFlags.Rst, PeerIsn + 2);
        h.Send(TcpFlags.Psh, PeerIsn + 2, payload: Bytes(5)); // RFC 9293 §3.10.7.4 fifth: no ACK bit, dropped
        h.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(S(60), c.TimerDeadline(TcpTimer.TimeWait));
    }

    [Fact]
    public void The_rst_that_answers_the_ack_of_an_old_duplicate_ends_time_wait_at_once_by_default()
    {
        (Harness h, TcpConnection c) = TimeWait();
        h.AdvanceTo(S(1));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, BeforeRcvNxt, Isn + 2, window: PeerWindow, payload: Bytes(100));
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        // The peer, closed, answers that ACK with <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.1).
        h.Send(TcpFlags.Rst, PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State); // 59 s before 2MSL: RFC 1337's hazard, Linux's default
        Assert.Empty(h.Engine.Connections);
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void Under_rfc_1337_that_rst_is_ignored_and_time_wait_ends_2msl_after_the_old_duplicate()
    {
        (Harness h, TcpConnection c) = TimeWait(new TcpConfig { TimeWaitRst = TimeWaitRstPolicy.Ignore });
        h.AdvanceTo(S(1));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, BeforeRcvNxt, Isn + 2, window: PeerWindow, payload: Bytes(100));
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        h.Send(TcpFlags.Rst, PeerIsn + 2);
        h.ExpectNothing(); // neither an answer to the RST nor a second ACK
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(S(61), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
    }
}
