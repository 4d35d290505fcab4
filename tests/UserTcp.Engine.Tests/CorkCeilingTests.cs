using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TCP_CORK and MSG_MORE as Linux holds them (packetdrill's nagle/sendmsg_msg_more.pkt): a partial segment held with
/// nothing in flight goes alone and pushed when the probe timer fires one RTO later (tcp_check_probe_timer,
/// tcp_write_wakeup; tcp(7)'s 200 ms ceiling); MSG_MORE holds only the write's own dispatch.
/// </summary>
public class CorkCeilingTests
{
    private const int Mss = 1460;

    private static void Ack(Harness h, int offset) => h.Send(TcpFlags.Ack, Their(0), Our(offset), window: 502);

    [Fact]
    public void A_msg_more_tail_with_nothing_in_flight_goes_alone_and_pushed_one_rto_later()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(40), moreComing: true);
        h.Poll();
        h.ExpectNothing();
        TimeSpan rto = c.Info().Rto;
        Assert.Equal(h.Now + rto, c.TimerDeadline(TcpTimer.Persist));
        h.AdvanceTo(h.Now + rto - TimeSpan.FromMilliseconds(1));
        h.ExpectNothing();
        Assert.Equal(rto, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 40); // PSH although MSG_MORE left it unpushed
        h.ExpectNothing();
    }

    [Fact]
    public void Corked_data_with_nothing_in_flight_waits_at_most_one_rto()
    {
        (Harness h, TcpConnection c) = Established();
        c.Corked = true;
        c.Send(Bytes(40));
        h.Poll();
        c.Send(Bytes(40));
        h.Poll();
        h.ExpectNothing();
        Assert.Equal(c.Info().Rto, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 80);
        Assert.True(c.Corked); // the cork stays: only the held data went
    }

    [Fact]
    public void Msg_more_holds_only_the_writes_own_dispatch_an_ack_sends_the_tail_unpushed()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(Mss + 40), moreComing: true);
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.ExpectNothing(); // the partial tail waits for more
        Assert.Null(c.TimerDeadline(TcpTimer.Persist)); // data in flight will draw an ACK: no wakeup
        h.Advance(TimeSpan.FromMilliseconds(10));
        Ack(h, Mss);
        h.Expect(TcpFlags.Ack, Our(Mss), Their(0), 40); // Nagle lets it go with nothing in flight; MSG_MORE data has no PSH
    }

    [Fact]
    public void Sending_cancels_the_wakeup_and_a_later_hold_waits_a_whole_rto_of_its_own()
    {
        (Harness h, TcpConnection c) = Established();
        TimeSpan start = h.Now;
        c.Send(Bytes(40), moreComing: true);
        h.Poll();
        h.Advance(TimeSpan.FromMilliseconds(50));
        c.Send(Bytes(20)); // without MSG_MORE: all of it goes, pushed
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 60);
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        h.Advance(TimeSpan.FromMilliseconds(10));
        Ack(h, 60);
        c.Send(Bytes(10), moreComing: true);
        h.Poll();
        TimeSpan held = h.Now;
        TimeSpan rto = c.Info().Rto;
        h.AdvanceTo(start + rto); // when the first hold's wakeup was due
        h.ExpectNothing();
        Assert.Equal(held + rto, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(60), Their(0), 10);
    }
}
