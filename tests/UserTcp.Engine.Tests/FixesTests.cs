using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Issue 8 item 5: what a new user found. Each test fails without its fix (the >4 GiB fast-retransmit case is a
/// simulation: Simulation.Tests, LongTransferTests).
/// </summary>
public class FixesTests
{
    [Fact]
    public void Reading_sends_no_window_update_the_16_bit_field_cannot_show_so_no_spurious_duplicate_ack()
    {
        // The peer offers no window scaling: our 256 KiB buffer shows as at most 65535.
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, new TcpConfig { ReceiveBufferSize = 256 * 1024, ReceiveBufferAutoTuning = false },
            new TcpOptions { MaxSegmentSize = 1460 });
        for (int i = 0; i < 10; i++) h.Send(TcpFlags.Ack, Their(i * 1460), Our(0), window: 65535, payload: Bytes(1460));
        while (h.PendingCount > 0) Assert.Equal(65535, h.Next().Window);
        Assert.Equal(14600, ReadAll(c).Data.Length);
        h.Poll();
        h.ExpectNothing(); // the same ACK number and window again would be the peer's duplicate ACK (RFC 9293 §3.8.6.2.2)
    }

    [Fact]
    public void Reading_still_sends_a_window_update_when_the_right_edge_moves()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, new TcpConfig { ReceiveBufferSize = 8192, ReceiveBufferAutoTuning = false },
            new TcpOptions { MaxSegmentSize = 1460 });
        for (int i = 0; i < 5; i++) h.Send(TcpFlags.Ack, Their(i * 1460), Our(0), window: 65535, payload: Bytes(1460));
        h.DrainSent();
        ReadAll(c);
        h.Poll();
        Assert.Equal(7300, h.Expect(TcpFlags.Ack, Our(0), Their(5 * 1460)).Window); // the free 8192 rounded down to five MSS
    }

    [Fact]
    public void A_segment_with_data_at_a_zero_window_still_has_its_ack_processed()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { ReceiveBufferSize = 2920, ReceiveBufferAutoTuning = false });
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(1460));
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: Bytes(1460));
        h.DrainSent();
        Assert.Equal(0u, c.RcvWnd);

        // Data at RCV.NXT that also acknowledges our 100 bytes. RFC 9293 §3.10.7.4: with RCV.WND = 0 no segment is
        // acceptable, "but special allowance should be made to accept valid ACKs, URGs, and RSTs".
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(2920), Our(100), window: PeerWindow, payload: Bytes(10));
        Assert.Equal(Our(100), c.SndUna.Value);
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(100), Their(2920)).Window); // the data is not taken; the window is still 0
        Assert.Equal(2920, c.BytesToRead);
    }

    [Fact]
    public void Sender_sws_avoidance_sends_half_the_largest_window_the_peer_offered()
    {
        // A peer whose window is never more than 1024 bytes (a small embedded receiver).
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, window: 1024, options: new TcpOptions { MaxSegmentSize = 1460 });
        h.Next();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 1024);
        TcpConnection c = Assert.Single(h.Engine.Connections);
        c.Send(Bytes(2000));
        h.Poll();
        // Cut to half the largest window, as Linux's tcp_bound_to_half_wnd (HalfWindowSegmentTests).
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 512);
        h.Expect(TcpFlags.Ack, Our(512), Their(0), 512);
        h.ExpectNothing();
        // Half of it is acknowledged: 512 bytes of window, less than an MSS but half the peer's largest window
        // (RFC 1122 §4.2.3.4 (3): "at least a fraction Fs of the maximum window can be sent").
        h.Send(TcpFlags.Ack, Their(0), Our(512), window: 1024);
        h.Expect(TcpFlags.Ack, Our(1024), Their(0), 512);
        h.ExpectNothing();
    }

    [Fact]
    public void Simultaneous_open_does_not_scale_the_window_of_the_peers_syn_ack()
    {
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn, PeerIsn, window: 1000, options: new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7 });
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(TcpState.SynReceived, c.State);
        // RFC 7323 §2.2: "The window field in a segment where the SYN bit is set (i.e., a <SYN> or <SYN,ACK>) MUST NOT be scaled."
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, window: 1000, options: new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7 });
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(1000u, c.SndWnd);
    }

    [Fact]
    public void A_new_connections_first_segments_are_acknowledged_at_once_then_delayed()
    {
        (Harness h, TcpConnection c) = Established();
        for (int i = 0; i < Receiver.MaxQuickAcks; i++)
        {
            h.Advance(Ms(1));
            h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(i * 100), Our(0), window: PeerWindow, payload: Bytes(100));
            h.Expect(TcpFlags.Ack, Our(0), Their((i + 1) * 100)); // Linux's quick-ACK mode (tcp_incr_quickack)
        }
        h.Advance(Ms(1));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(1600), Our(0), window: PeerWindow, payload: Bytes(100));
        h.ExpectNothing();
        Assert.Equal(h.Now + h.Config.DelayedAck, c.TimerDeadline(TcpTimer.DelayedAck));
    }

    [Fact]
    public void Pure_acks_are_numbered_snd_max_while_a_timeout_resends_from_snd_una()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { Rack = false, TailLossProbe = false });
        c.Send(Bytes(3 * 1460));
        h.Poll();
        h.DrainSent();
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 1460); // go-back-N from SND.UNA; SND.NXT is behind SND.MAX
        Assert.True(c.SndNxt.Value != c.SndMax.Value);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: Bytes(10));
        // BSD's choice, which the 20 % loss simulation found: SND.NXT here would be below what the peer holds.
        h.Expect(TcpFlags.Ack, Our(3 * 1460), Their(10));
    }
}
