using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The edges of a closed receive window, as Linux 6.18 and RFC 9293 have them: the window an active reset carries
/// (Linux's tcp_send_active_reset goes through tcp_select_window; a RST for no connection carries 0), and data past the
/// window's edge (RFC 9293 §3.10.7.4 takes its ACK; Linux 6.17's tcp_sequence drops it whole while data waits to be read,
/// TcpConfig.DropBeyondWindow), counted as TcpExtBeyondWindow either way.
/// </summary>
public class ZeroWindowEdgeTests
{
    // 8192 bytes: a first window of 7300 (five MSS), scale 0; every ACK delayed, so the test sees each one it asks for.
    private static TcpConfig Small(bool dropBeyondWindow = false) =>
        new() { ReceiveBufferSize = 8192, ReceiveBufferAutoTuning = false, QuickAcks = 0, DropBeyondWindow = dropBeyondWindow };

    private static long Count(Harness h, MibCounter counter) => h.Engine.Counters[counter];

    /// <summary>The peer fills the 7300-byte window; the delayed ACK closes it.</summary>
    private static (Harness H, TcpConnection C) AtZeroWindow(TcpConfig config)
    {
        (Harness h, TcpConnection c) = Established(config);
        for (int start = 0; start < 7300; start += 1460)
        {
            h.Send(TcpFlags.Ack, Their(start), Our(0), window: PeerWindow, payload: Bytes(1460));
        }
        h.AdvanceToNextDeadline();
        h.DrainSent();
        Assert.Equal(0u, c.RcvWnd);
        return (h, c);
    }

    /// <summary>One full segment arrives and waits unread; its delayed ACK offers the window returned.</summary>
    private static (Harness H, TcpConnection C, ushort Window) OneSegmentUnread(TcpConfig config)
    {
        (Harness h, TcpConnection c) = Established(config);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(1460));
        h.AdvanceToNextDeadline();
        return (h, c, h.Expect(TcpFlags.Ack, Our(0), Their(1460)).Window);
    }

    [Fact]
    public void Close_with_unread_data_frees_it_and_the_reset_offers_the_emptied_buffers_window()
    {
        (Harness h, TcpConnection c) = AtZeroWindow(Small());
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv));
        c.Close();
        h.Poll();
        Sent reset = h.Expect(TcpFlags.Rst | TcpFlags.Ack, Our(0), Their(7300));
        Assert.Equal(7300, reset.Window); // the 8192 bytes free again, five MSS: not 0, not the closed window
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPFromZeroWindowAdv));
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPAbortOnClose));
        h.ExpectNothing();

        // The peer's next segment finds no connection: that RST answers it with window 0 (tcp_v4_send_reset).
        h.Send(TcpFlags.Ack, Their(7300), Our(0), window: PeerWindow);
        Sent reply = h.Expect(TcpFlags.Rst, Our(0));
        Assert.Equal(0, reply.Window);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPFromZeroWindowAdv)); // a reply for no connection counts no window
        h.ExpectNothing();
    }

    [Fact]
    public void Abort_resets_with_the_window_still_offered_and_counts_no_zero_window()
    {
        (Harness h, TcpConnection c, ushort offered) = OneSegmentUnread(Small());
        c.Abort(); // the 1460 bytes stay unread: the window is what the buffer has free, never less than offered
        h.Poll();
        Assert.Equal(offered, h.Expect(TcpFlags.Rst | TcpFlags.Ack, Our(0), Their(1460)).Window);
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv) + Count(h, MibCounter.TcpExtTCPWantZeroWindowAdv));
        h.ExpectNothing();
    }

    [Fact]
    public void By_default_data_into_a_zero_window_is_dropped_but_its_ack_is_taken()
    {
        (Harness h, TcpConnection c) = AtZeroWindow(Small());
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(7300), 100);
        // RFC 9293 §3.10.7.4: with RCV.WND zero, valid ACKs are still processed; the text is dropped and counted.
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(7300), Our(100), window: PeerWindow, payload: Bytes(100));
        Sent ack = h.Expect(TcpFlags.Ack, Our(100), Their(7300));
        Assert.Equal(0, ack.Window);
        h.ExpectNothing(); // one ACK, no second
        Assert.Equal(Our(100), c.SndUna.Value);
        Assert.Equal(1, Count(h, MibCounter.TcpExtBeyondWindow));
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission)); // nothing left to resend
    }

    [Fact]
    public void Under_linux_rules_data_into_a_zero_window_is_dropped_with_its_ack_and_answered_once()
    {
        (Harness h, TcpConnection c) = AtZeroWindow(Small(dropBeyondWindow: true));
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(7300), 100);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(7300), Our(100), window: PeerWindow, payload: Bytes(100));
        Sent ack = h.Expect(TcpFlags.Ack, Our(100), Their(7300)); // tcp_send_dupack, at once
        Assert.Equal(0, ack.Window);
        h.ExpectNothing();
        Assert.Equal(Our(0), c.SndUna.Value); // the ACK of the 100 bytes was not taken
        Assert.Equal(1, Count(h, MibCounter.TcpExtBeyondWindow));
        Assert.Equal(1, h.Log.Of(TcpEventKind.Dropped).Count(e => e.Cause == TcpCause.OutsideWindow));

        // So the 100 bytes go again when the RTO expires, and nothing else goes before.
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(7300), 100);
        h.ExpectNothing();
    }

    [Fact]
    public void Under_linux_rules_a_fin_alone_may_pass_a_zero_window()
    {
        (Harness h, TcpConnection c) = AtZeroWindow(Small(dropBeyondWindow: true));
        h.Send(TcpFlags.Ack | TcpFlags.Fin, Their(7300), Our(0), window: PeerWindow);
        Assert.Equal(TcpState.CloseWait, c.State); // Linux 6.18's leniency: only the FIN's octet is past the edge
        Assert.Equal(0, Count(h, MibCounter.TcpExtBeyondWindow));
    }

    [Fact]
    public void Under_linux_rules_a_segment_ending_past_an_open_window_is_dropped_only_while_data_waits_to_be_read()
    {
        (Harness h, TcpConnection c, ushort window) = OneSegmentUnread(Small(dropBeyondWindow: true)); // right edge at 1460 + window
        // One byte past the edge, with 1460 bytes unread: dropped whole, the same ACK at once.
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: Bytes(window + 1));
        Sent dupack = h.Expect(TcpFlags.Ack, Our(0), Their(1460));
        Assert.Equal(window, dupack.Window);
        h.ExpectNothing();
        Assert.Equal(1, Count(h, MibCounter.TcpExtBeyondWindow));

        // Once the buffer is read Linux takes such a segment, whole (tcp_sequence with an empty queue).
        Assert.Equal(ReceiveStatus.Data, c.Receive(new byte[1460], out _));
        h.Poll();
        h.DrainSent();
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: Bytes(window + 1));
        Assert.Equal(window + 1, c.BytesToRead);
        Assert.Equal(1, Count(h, MibCounter.TcpExtBeyondWindow));
    }

    [Fact]
    public void Under_linux_rules_with_nothing_unread_a_segment_ending_past_an_open_window_is_taken_whole_and_acknowledged_once()
    {
        (Harness h, TcpConnection c) = Established(Small(dropBeyondWindow: true)); // window 7300, buffer 8192
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(8000));
        Assert.Equal(8000, c.BytesToRead); // the 700 bytes past the edge too (Linux 6.17's tcp_sequence, tcp_data_queue)
        h.Expect(TcpFlags.Ack, Our(0), Their(8000)); // more than a full segment unacknowledged: at once
        h.ExpectNothing(); // one ACK, no second
        Assert.Equal(0, Count(h, MibCounter.TcpExtBeyondWindow));
    }

    [Fact]
    public void Under_linux_rules_with_nothing_unread_out_of_order_data_ending_past_the_edge_is_held_whole()
    {
        (Harness h, TcpConnection c) = Established(Small(dropBeyondWindow: true));
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: Bytes(6000)); // ends at 7460, edge 7300
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // the duplicate ACK of out-of-order data, once
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(1460));
        h.Expect(TcpFlags.Ack, Our(0), Their(7460)); // the gap filled: all of it, the 160 bytes past the edge too
        h.ExpectNothing();
        Assert.Equal(7460, c.BytesToRead);
        Assert.Equal(0, Count(h, MibCounter.TcpExtBeyondWindow));
    }

    [Fact]
    public void Under_linux_rules_bytes_past_the_edge_the_buffer_cannot_hold_are_trimmed_as_by_default()
    {
        (Harness h, TcpConnection c) = Established(Small(dropBeyondWindow: true));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(9000)); // more than the 8192-byte buffer
        Assert.Equal(7300, c.BytesToRead);
        h.Expect(TcpFlags.Ack, Our(0), Their(7300)); // at once, as for any segment trimmed at the edge
        h.ExpectNothing();
    }

    [Fact]
    public void By_default_with_nothing_unread_a_segment_ending_past_an_open_window_is_trimmed()
    {
        (Harness h, TcpConnection c) = Established(Small());
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(8000));
        Assert.Equal(7300, c.BytesToRead); // RFC 9293 §3.10.7.4
        h.Expect(TcpFlags.Ack, Our(0), Their(7300));
        h.ExpectNothing();
    }

    [Fact]
    public void By_default_a_segment_ending_past_an_open_window_is_trimmed_and_counts_nothing()
    {
        (Harness h, TcpConnection c, ushort window) = OneSegmentUnread(Small());
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: Bytes(window + 1));
        Assert.Equal(1460 + window, c.BytesToRead);
        Assert.Equal(0, Count(h, MibCounter.TcpExtBeyondWindow));
        // A segment starting past the edge is unacceptable either way, and counted (tcp_sequence's INVALID_SEQUENCE).
        h.DrainSent();
        h.Send(TcpFlags.Ack, Their(1460 + window + 1000), Our(0), window: PeerWindow, payload: Bytes(10));
        h.Expect(TcpFlags.Ack, Our(0), Their(1460 + window));
        h.ExpectNothing();
        Assert.Equal(1, Count(h, MibCounter.TcpExtBeyondWindow));
    }

    [Fact]
    public void Out_of_order_data_filling_the_buffer_wishes_a_zero_window_but_the_edge_offered_never_moves()
    {
        (Harness h, TcpConnection c) = Established(Small());
        // The first 100 bytes are lost; the other 7200 of the 7300-byte window arrive and are held at their place in it.
        // Held bytes count against the free space (as Linux's skbs against sk_rmem_alloc): after the fifth, 992 bytes are
        // left, less than a segment, so the window chosen is zero (TcpExtTCPWantZeroWindowAdv) while the edge stays.
        for (int start = 100; start < 7300; start += 1440)
        {
            h.Send(TcpFlags.Ack, Their(start), Our(0), window: PeerWindow, payload: Bytes(1440));
            Sent dupack = h.Expect(TcpFlags.Ack, Our(0), Their(0)); // out of order: acknowledged at once (RFC 5681 §4.2)
            Assert.Equal(7300, dupack.Window); // never a smaller edge (RFC 9293 §3.8.6: the window should not shrink)
        }
        h.ExpectNothing();
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPWantZeroWindowAdv));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv));

        // The hole filled, all 7300 bytes wait unread: now the window offered closes, once.
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(100));
        Sent ack = h.Expect(TcpFlags.Ack, Our(0), Their(7300));
        Assert.Equal(0, ack.Window);
        Assert.Equal(7300, c.BytesToRead);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPWantZeroWindowAdv));
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv));
        h.ExpectNothing();
    }

    [Fact]
    public void A_scaled_window_rounded_down_to_zero_counts_one_fall_to_zero_and_one_rise_however_often_it_is_sent()
    {
        // 100000 bytes need window scale 1; the peer leaves one byte of the edge open, which the field rounds down to 0.
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(10), new TcpConfig { ReceiveBufferSize = 100_000, ReceiveBufferAutoTuning = false, QuickAcks = 0 });
        int sent = 0;
        while (c.RcvWnd > 1)
        {
            int length = (int)Math.Min(ModernPeer.Mss, c.RcvWnd - 1);
            h.Send(TcpFlags.Ack, Their(sent), Our(0), PeerWindow, Bytes(length), ModernPeer.Options(h, 0));
            sent += length;
            h.AdvanceToNextDeadline();
        }
        Assert.Equal(1u, c.RcvWnd);
        h.DrainSent();
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv));
        long wished = Count(h, MibCounter.TcpExtTCPWantZeroWindowAdv); // ACKs that kept the edge while the buffer filled

        // Three probes (SEQ = RCV.NXT - 1, Linux's), each answered with win 0: the window was already zero on the wire.
        for (int i = 0; i < 3; i++)
        {
            h.Advance(Ms(600)); // past the 500 ms limit on answers to unacceptable segments (tcp_invalid_ratelimit)
            h.Send(TcpFlags.Ack, Their(sent - 1), Our(0), PeerWindow, options: ModernPeer.Options(h, 0));
            Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(0), Their(sent)).Window);
            h.ExpectNothing();
        }
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPToZeroWindowAdv));
        Assert.Equal(wished, Count(h, MibCounter.TcpExtTCPWantZeroWindowAdv)); // a zero window was offered, not only wished for

        // The application reads everything: the update rises from zero, once.
        while (c.Receive(new byte[65536], out int read) == ReceiveStatus.Data && read > 0) { }
        h.Poll();
        Assert.NotEqual(0, h.Expect(TcpFlags.Ack, Our(0), Their(sent)).Window);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPFromZeroWindowAdv));
        h.ExpectNothing();
    }
}
