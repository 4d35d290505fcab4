using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>
/// A BBR Fast Open server starts BBR at the SYN, as Linux's tcp_fastopen_create_child runs tcp_init_transfer (bbr_init)
/// with no RTT yet: a rate from a nominal 1 ms. The handshake's ACK starts nothing again (tcp_rcv_synrecv_state_fastopen),
/// and BBR meets it before the SYN-ACK is timed (tcp_synack_rtt_meas follows tcp_ack), so the SRTT comes in at the next ACK.
/// </summary>
public class FastOpenBbrTests
{
    private static readonly FastOpenKey Key = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
    private const uint DataAck = PeerIsn + 1 + 10; // the SYN and its 10 bytes

    private static (Harness H, TcpConnection Child) Accepted()
    {
        var h = new Harness(new TcpConfig
        {
            FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = Key, CongestionControl = CongestionControlAlgorithm.Bbr,
        });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, 128);
        listener.FastOpenQueueLength = 16;
        TcpOptions options = PeerSynOptions;
        options.SetFastOpen(TcpFastOpenKind.Rfc7413, FastOpenServerCookies.Make(Key.Primary, Harness.PeerAddress, Harness.LocalAddress));
        h.Send(TcpFlags.Syn, PeerIsn, options: options, payload: "0123456789"u8.ToArray());
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, DataAck);
        Assert.True(listener.TryAccept(out TcpConnection child));
        return (h, child);
    }

    private static long Rate(TcpConnection c, double srttSeconds) => (long)(Bbr.HighGain * 10 * c.SendMss / srttSeconds * 0.99);

    /// <summary>The ten segments of a write: TSO packets of half of cwnd (tcp_cwnd_test) at the nominal rate, PSH on the 5th and 10th only.</summary>
    private static void ExpectHalvesOfCwnd(Harness h, TcpConnection c)
    {
        for (int i = 0; i < 10; i++)
        {
            Sent s = h.Next();
            Assert.Equal(unchecked(Isn + 1 + (uint)(i * c.SendMss)), s.Seq);
            Assert.Equal(i is 4 or 9, (s.Flags & TcpFlags.Psh) != 0); // not pairs (a rate from a 100 ms SRTT)
        }
        h.ExpectNothing(); // cwnd 10: nothing more before an ACK
    }

    [Fact]
    public void Its_rate_comes_at_the_syn_from_a_nominal_rtt_and_the_handshakes_ack_leaves_it()
    {
        (Harness h, TcpConnection child) = Accepted();
        long nominal = Rate(child, 0.001);
        Assert.InRange((long)child.Info().PacingRate, nominal - 1, nominal + 1); // not unbounded

        h.Advance(TimeSpan.FromMilliseconds(100));
        h.Send(TcpFlags.Ack, DataAck, Isn + 1, window: 502);
        Assert.Equal(TcpState.Established, child.State);
        Assert.Equal(TimeSpan.FromMilliseconds(100), child.Info().SmoothedRtt);
        Assert.InRange((long)child.Info().PacingRate, nominal - 1, nominal + 1); // no bbr_init again at the handshake's ACK
        h.ExpectNothing();

        child.Send(new byte[10 * child.SendMss]);
        h.Poll();
        ExpectHalvesOfCwnd(h, child);

        // The data's ACK brings the SRTT in (bbr_set_pacing_rate, before cwnd grows).
        h.Advance(TimeSpan.FromMilliseconds(100));
        h.Send(TcpFlags.Ack, DataAck, unchecked(Isn + 1 + (uint)(10 * child.SendMss)), window: 502);
        long fromSrtt = Rate(child, 0.1);
        Assert.InRange((long)child.Info().PacingRate, fromSrtt - 1, fromSrtt + 1);
    }

    [Fact]
    public void With_data_in_flight_the_handshakes_ack_meets_bbr_before_the_syn_ack_is_timed()
    {
        (Harness h, TcpConnection child) = Accepted();
        long nominal = Rate(child, 0.001);
        child.Send(new byte[10 * child.SendMss]);
        h.Poll();
        ExpectHalvesOfCwnd(h, child);

        h.Advance(TimeSpan.FromMilliseconds(100));
        h.Send(TcpFlags.Ack, DataAck, Isn + 1, window: 502); // the SYN-ACK only
        Assert.Equal(TimeSpan.FromMilliseconds(100), child.Info().SmoothedRtt); // timed all the same
        Assert.InRange((long)child.Info().PacingRate, nominal - 1, nominal + 1); // BBR saw the ACK with no SRTT yet
        h.ExpectNothing();

        // The data's ACK at 200 ms: SRTT 100 + (200 - 100) / 8 = 112.5 ms, and the rate from it.
        h.Advance(TimeSpan.FromMilliseconds(100));
        h.Send(TcpFlags.Ack, DataAck, unchecked(Isn + 1 + (uint)(10 * child.SendMss)), window: 502);
        long fromSrtt = Rate(child, 0.1125);
        Assert.InRange((long)child.Info().PacingRate, fromSrtt - 1, fromSrtt + 1);
    }
}
