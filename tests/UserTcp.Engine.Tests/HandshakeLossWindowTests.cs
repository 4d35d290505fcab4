using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The window data starts with after a lost SYN or SYN-ACK: Linux's tcp_init_transfer keeps the initial window (10
/// segments) after one retransmission and cuts it to one segment after more than one with a timeout among them, unless
/// the handshake's answer echoes the first SYN's TSval (tcp_try_undo_spurious_syn); RFC 6928 §2 and RFC 5681 §3.1
/// cut it after one (<see cref="TcpConfig.LossWindowAfterOneSynRetransmission"/>). Everything starts at t = 10 ms, so
/// our first SYN's TSval is 10, not 0 (which is no echo at all). tests/scripts/retransmission/iw-*.pkt: the same on Linux.
/// </summary>
public class HandshakeLossWindowTests
{
    private const int Segments = 20; // more than the initial window, so the burst shows the window
    private static readonly TimeSpan Start = Ms(10);
    private static readonly TcpOptions PlainSynOptions = PeerSynOptions; // MSS 1460 and window scale: segments of 1460

    // ───────────── active open ─────────────

    [Fact]
    public void One_syn_timeout_keeps_the_initial_window_and_a_burst_of_ten_goes()
    {
        (Harness h, TcpConnection c) = Connect(timeouts: 1);
        EstablishWithSynAck(h, PlainSynOptions);
        Assert.Equal(10 * 1460, c.CongestionWindow);
        Assert.Equal(S(3), c.Rto); // RFC 6298 §5.7 still: no RTT sample
        Assert.Equal(10, Burst(h, c, 1460));
    }

    [Fact]
    public void Two_syn_timeouts_make_the_window_one_segment_and_no_burst_goes()
    {
        (Harness h, TcpConnection c) = Connect(timeouts: 2);
        EstablishWithSynAck(h, PlainSynOptions);
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, 1460));

        h.Advance(Ms(100)); // slow start from one segment: the ACK of the first lets two go
        h.Send(TcpFlags.Ack, Their(0), Our(1460), window: PeerWindow);
        Assert.Equal(2 * 1460, c.CongestionWindow);
        Assert.Equal(2, SentNow(h, 1460));
    }

    [Fact]
    public void Syn_ack_echoing_the_first_syns_tsval_proves_the_timeouts_spurious_and_keeps_the_initial_window()
    {
        (Harness h, TcpConnection c) = Connect(timeouts: 2);
        EstablishWithSynAck(h, ModernPeer.SynOptions() with { Timestamp = new TcpTimestamp(ModernPeer.PeerTsStart, ModernPeer.OurTs(Start)) });
        Assert.Equal(10 * ModernPeer.Mss, c.CongestionWindow);
        Assert.Equal(10, Burst(h, c, ModernPeer.Mss));
    }

    [Fact]
    public void Syn_ack_echoing_a_retransmitted_syns_tsval_proves_nothing_and_the_window_is_one_segment()
    {
        (Harness h, TcpConnection c) = Connect(timeouts: 2); // SYNs at 0.01, 1.01 and 3.01 s
        EstablishWithSynAck(h, ModernPeer.SynOptions() with { Timestamp = new TcpTimestamp(ModernPeer.PeerTsStart, ModernPeer.OurTs(Start + S(1))) });
        Assert.Equal(ModernPeer.Mss, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, ModernPeer.Mss));
    }

    [Fact]
    public void Rfc_6928_loss_window_after_one_syn_timeout_when_configured()
    {
        var config = new TcpConfig { LossWindowAfterOneSynRetransmission = true };
        (Harness h, TcpConnection c) = Connect(timeouts: 1, config);
        EstablishWithSynAck(h, PlainSynOptions);
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, 1460));
    }

    [Fact]
    public void Rfc_6928_loss_window_is_not_taken_for_a_timeout_the_syn_ack_proves_spurious()
    {
        var config = new TcpConfig { LossWindowAfterOneSynRetransmission = true };
        (Harness h, TcpConnection c) = Connect(timeouts: 1, config);
        EstablishWithSynAck(h, ModernPeer.SynOptions() with { Timestamp = new TcpTimestamp(ModernPeer.PeerTsStart, ModernPeer.OurTs(Start)) });
        Assert.Equal(10 * ModernPeer.Mss, c.CongestionWindow);
    }

    // ───────────── passive open ─────────────

    [Fact]
    public void One_syn_ack_timeout_keeps_the_initial_window_and_a_burst_of_ten_goes()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(PlainSynOptions, timeouts: 1);
        TcpConnection c = AcceptWithAck(h, listener, default);
        Assert.Equal(10 * 1460, c.CongestionWindow);
        Assert.Equal(S(3), c.Rto);
        Assert.Equal(10, Burst(h, c, 1460));
    }

    [Fact]
    public void Two_syn_ack_timeouts_make_the_window_one_segment_and_no_burst_goes()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(PlainSynOptions, timeouts: 2);
        TcpConnection c = AcceptWithAck(h, listener, default);
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, 1460));
    }

    [Fact]
    public void Syn_acks_resent_for_repeated_syns_without_a_timeout_keep_the_initial_window()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(PlainSynOptions, timeouts: 0);
        RepeatSyn(h, Ms(300));
        RepeatSyn(h, Ms(850));
        TcpConnection c = AcceptWithAck(h, listener, default);
        Assert.Equal(2, c.Info().TotalRetransmissions); // both count, as Linux's num_retrans, but no timeout set undo_marker
        Assert.Equal(10 * 1460, c.CongestionWindow);
        Assert.Equal(10, Burst(h, c, 1460));
    }

    [Fact]
    public void A_syn_ack_timeout_and_a_syn_ack_for_a_repeated_syn_make_the_window_one_segment()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(PlainSynOptions, timeouts: 1);
        RepeatSyn(h, Start + Ms(1200));
        TcpConnection c = AcceptWithAck(h, listener, default);
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, 1460));
    }

    [Fact]
    public void Ack_echoing_the_first_syn_acks_tsval_proves_the_timeouts_spurious_and_keeps_the_initial_window()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(ModernPeer.SynOptions(), timeouts: 2);
        TcpConnection c = AcceptWithAck(h, listener, ModernPeer.Options(h, ModernPeer.OurTs(Start)));
        Assert.Equal(10 * ModernPeer.Mss, c.CongestionWindow);
        Assert.Equal(10, Burst(h, c, ModernPeer.Mss));
    }

    [Fact]
    public void Ack_echoing_the_last_syn_acks_tsval_proves_nothing_and_the_window_is_one_segment()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(ModernPeer.SynOptions(), timeouts: 2);
        TcpConnection c = AcceptWithAck(h, listener, ModernPeer.Options(h, ModernPeer.OurTs(Start + S(3))));
        Assert.Equal(ModernPeer.Mss, c.CongestionWindow);
        Assert.Equal(1, Burst(h, c, ModernPeer.Mss));
    }

    // ───────────── helpers ─────────────

    /// <summary>Our SYN at <see cref="Start"/>, then <paramref name="timeouts"/> retransmissions on the timer (1 s, 3 s after it).</summary>
    private static (Harness H, TcpConnection C) Connect(int timeouts, TcpConfig? config = null)
    {
        var h = new Harness(config);
        h.AdvanceTo(Start);
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn);
        for (int i = 0; i < timeouts; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Syn, Isn);
        }
        h.ExpectNothing();
        return (h, c);
    }

    private static void EstablishWithSynAck(Harness h, TcpOptions options)
    {
        h.Advance(Ms(100));
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, window: 65535, options: options);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        h.ExpectNothing();
    }

    /// <summary>The peer's SYN at <see cref="Start"/>, our SYN-ACK, and <paramref name="timeouts"/> of its retransmissions.</summary>
    private static (Harness H, TcpPassiveOpen Listener) SynReceived(TcpOptions synOptions, int timeouts)
    {
        var h = new Harness();
        h.AdvanceTo(Start);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: synOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        for (int i = 0; i < timeouts; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        }
        return (h, listener);
    }

    private static void RepeatSyn(Harness h, TimeSpan at)
    {
        h.AdvanceTo(at);
        h.Send(TcpFlags.Syn, PeerIsn, options: PlainSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
    }

    private static TcpConnection AcceptWithAck(Harness h, TcpPassiveOpen listener, TcpOptions options)
    {
        h.Advance(Ms(50));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow, options: options);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        h.ExpectNothing();
        return c;
    }

    /// <summary>Writes <see cref="Segments"/> full segments and counts those that go at once.</summary>
    private static int Burst(Harness h, TcpConnection c, int mss)
    {
        c.Send(Bytes(Segments * mss));
        h.Poll();
        return SentNow(h, mss);
    }

    /// <summary>Full-sized data segments sent and not yet read, each following the one before.</summary>
    private static int SentNow(Harness h, int mss)
    {
        int count = 0;
        uint? next = null;
        while (h.TryNext() is Sent s)
        {
            Assert.Equal(mss, s.Payload.Length);
            if (next is uint expected) Assert.Equal(expected, s.Seq);
            next = unchecked(s.Seq + (uint)mss);
            count++;
        }
        return count;
    }
}
