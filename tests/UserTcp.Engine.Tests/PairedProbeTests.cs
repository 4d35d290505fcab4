using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// docs/design.md "Paired loss probes" (issue 15): when the ACK of a whole flight is lost, a probe of new data is two full
/// segments, so a Linux receiver (which holds the ACK of a lone in-order segment for its delayed-ACK time, 40 ms or more)
/// acknowledges it at once.
/// </summary>
public class PairedProbeTests
{
    [Fact]
    public void When_the_flights_ack_is_lost_the_probe_is_two_full_segments_of_new_data_and_nothing_else()
    {
        (Harness h, TcpConnection c) = Established(Ms(10)); // SRTT 10 ms: probe timeout 25 ms (the minimum), RTO 200 ms
        c.Send(Bytes(14 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next(); // the initial window: ten segments, four more wait for cwnd
        h.ExpectNothing();

        Assert.Equal(Ms(10 + 25), h.AdvanceToNextDeadline()); // the flight's ACK never comes
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing(); // two, not the four waiting: the probe goes beyond cwnd by as little as it can
        Assert.Equal(Ms(35 + 25), c.TimerDeadline(TcpTimer.LossProbe)); // a second probe if no ACK comes (TcpConfig.LossProbes)
        Assert.Equal(Ms(35 + 200), c.TimerDeadline(TcpTimer.Retransmission)); // the RTO re-armed from the probe
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission)); // new data: nothing was resent

        // Linux acknowledges two full segments at once; the ACK covers the lost one's flight too, and sending goes on.
        h.AdvanceTo(Ms(36));
        h.Send(TcpFlags.Ack, Their(0), Our(12 * Mss), window: PeerWindow, options: Options(h, 35));
        h.Expect(TcpFlags.Ack, Our(12 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(13 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(0, c.RetransmissionTimeouts);
    }

    [Fact]
    public void With_less_than_two_full_segments_waiting_the_probe_is_one_segment()
    {
        (Harness h, TcpConnection c) = Established(Ms(10));
        c.Send(Bytes(11 * Mss + 100));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        h.ExpectNothing();

        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.ExpectNothing(); // the 100 bytes after it are no full segment: they wait for the ACK
    }

    [Fact]
    public void Turned_off_the_probe_is_one_segment_of_new_data_as_in_rfc_8985_and_linux()
    {
        (Harness h, TcpConnection c) = Established(Ms(10), new TcpConfig { PairedProbe = false });
        c.Send(Bytes(14 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();

        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.ExpectNothing();
    }
}
