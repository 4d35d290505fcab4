using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// docs/design.md "A second loss probe" (issue 15): when the probe's only ACK is lost as well, a second probe a probe
/// timeout later draws an ACK, well before the 200 ms minimum RTO, which stays where the first probe armed it.
/// </summary>
public class SecondProbeTests
{
    [Fact]
    public void When_the_probes_ack_is_lost_too_a_second_probe_goes_and_then_the_rto_as_the_first_armed_it()
    {
        (Harness h, TcpConnection c) = Established(Ms(10)); // SRTT 10 ms: probe timeout 25 ms, RTO 200 ms
        c.Send(Bytes(20 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();

        Assert.Equal(Ms(35), h.AdvanceToNextDeadline()); // the flight's ACK is lost: the first (paired) probe
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing();

        Assert.Equal(Ms(60), h.AdvanceToNextDeadline()); // its ACK is lost too: the second, the next two segments
        h.Expect(TcpFlags.Ack, Our(12 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(13 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe)); // two per stall
        Assert.Equal(Ms(235), c.TimerDeadline(TcpTimer.Retransmission)); // still the first probe's

        Assert.Equal(Ms(235), h.AdvanceToNextDeadline()); // nothing answers: the RTO, when it would have come anyway
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.Equal(1, c.RetransmissionTimeouts);
        Assert.DoesNotContain(h.Log.Of(TcpEventKind.Retransmission), e => e.Cause == TcpCause.TailLossProbe); // both probes were new data
    }

    [Fact]
    public void An_ack_ends_the_stall_so_the_next_stall_gets_both_probes_again()
    {
        (Harness h, TcpConnection c) = Established(Ms(10));
        c.Send(Bytes(40 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        Assert.Equal(Ms(35), h.AdvanceToNextDeadline());
        h.Next();
        h.Next();

        // The probe's ACK covers the whole flight: new data goes, and the follow-up probe is off.
        h.AdvanceTo(Ms(36));
        h.Send(TcpFlags.Ack, Their(0), Our(12 * Mss), window: PeerWindow, options: Options(h, 35));
        Assert.True(h.PendingCount > 0);
        h.DrainSent();
        TimeSpan probe = Assert.NotNull(c.TimerDeadline(TcpTimer.LossProbe)); // a first probe for the new flight

        // That flight's ACK is lost as well: its probe, then again a follow-up (a probe timeout later).
        Assert.Equal(probe, h.AdvanceToNextDeadline());
        h.Next();
        h.Next();
        h.ExpectNothing();
        Assert.Equal(probe + (probe - Ms(36)), c.TimerDeadline(TcpTimer.LossProbe));
    }

    [Fact]
    public void With_one_probe_per_stall_the_rto_follows_the_probe_as_in_rfc_8985_and_linux()
    {
        (Harness h, TcpConnection c) = Established(Ms(10), new TcpConfig { LossProbes = 1 });
        c.Send(Bytes(20 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        Assert.Equal(Ms(35), h.AdvanceToNextDeadline());
        h.Next();
        h.Next();
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(235), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Loss_probes_per_stall_out_of_range_are_refused(int probes) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpConfig { LossProbes = probes });
}
