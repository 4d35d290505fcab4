using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The window we offer, chosen as Linux 6.18 chooses it (Receive/ReceiveWindow.cs): a SYN's rounded down to a multiple
/// of the MSS (tcp_select_initial_window), later ones kept within one MSS of the free space or rounded to it without a
/// window scale, at the field's granularity with one (__tcp_select_window), and never shrunk (tcp_select_window).
/// </summary>
public class ReceiveWindowTests
{
    private static readonly TcpOptions TimestampedSyn = new() { MaxSegmentSize = 1460, WindowScale = 7, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0) };

    private static TcpConfig Fixed(int buffer) => new() { ReceiveBufferSize = buffer, ReceiveBufferAutoTuning = false };

    private static Sent SynAck(TcpConfig config, TcpOptions peerSyn)
    {
        var h = new Harness(config);
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: peerSyn);
        return h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
    }

    [Fact]
    public void A_syn_ack_offers_the_buffer_rounded_down_to_the_mss_less_the_timestamps_it_will_carry()
    {
        // 64 KiB: 45 segments of 1448 with timestamps (tcp_openreq_init_rwin), 44 of 1460 without: Linux's 65160 and 64240.
        Assert.Equal(65160, SynAck(new TcpConfig(), TimestampedSyn).Window);
        Assert.Equal(64240, SynAck(new TcpConfig(), PeerSynOptions).Window);
        // SO_RCVBUF-sized buffers: 4096 is two segments, 8192 five.
        Assert.Equal(2920, SynAck(Fixed(4096), PeerSynOptions).Window);
        Assert.Equal(7300, SynAck(Fixed(8192), PeerSynOptions).Window);
        // Rounded first, then capped at the unscaled field: 256 KiB offers 65535, not a multiple of the MSS.
        Assert.Equal(65535, SynAck(Fixed(256 * 1024), PeerSynOptions).Window);
        // A buffer no larger than an MSS is offered whole, never rounded to nothing.
        Assert.Equal(1152, SynAck(Fixed(1152), PeerSynOptions).Window);
    }

    [Fact]
    public void A_cookie_syn_ack_offers_the_window_the_connection_will_have()
    {
        Sent cookieSynAck = Cookie(TimestampedSyn);
        Assert.Equal(65160, cookieSynAck.Window);
        Assert.Equal(64240, Cookie(PeerSynOptions).Window);

        static Sent Cookie(TcpOptions peerSyn)
        {
            var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always });
            h.Engine.Listen(Harness.LocalPort);
            h.Send(TcpFlags.Syn, PeerIsn, options: peerSyn);
            Sent synAck = h.Next();
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
            Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
            return synAck;
        }
    }

    [Fact]
    public void An_active_syn_rounds_to_the_whole_mss_and_the_first_ack_keeps_that_window()
    {
        // SO_RCVBUF 16384 before connect(): 16060 (eleven segments of 1460; an active SYN does not take off the timestamps,
        // Linux's tcp_connect_init) and window scale 0.
        var h = new Harness(Fixed(16384));
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal((16060, (byte?)0), (syn.Window, syn.Options.WindowScale));
        Assert.NotNull(syn.Options.Timestamp);

        // The free 16384 is within one MSS (536, the estimate before data) of 16060: the ACK keeps it, as Linux's does.
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        Assert.Equal(16060, h.Expect(TcpFlags.Ack, Our(0), Their(0)).Window);
        Assert.Equal(16060u, c.RcvWnd);
        h.ExpectNothing();
    }

    [Fact]
    public void Without_window_scaling_the_window_keeps_its_size_while_within_one_mss_below_the_free_space()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, Fixed(16384), new TcpOptions { MaxSegmentSize = 1460 });
        Assert.Equal(16060u, c.RcvWnd);

        // 1000 bytes unread: the free 15384 rounds down to 15000 (the peer's segments are 1000 now), less than the 15060
        // left of the window offered, which never shrinks.
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(1000));
        Assert.Equal(15060, h.Expect(TcpFlags.Ack, Our(0), Their(1000)).Window);

        // Reading them frees 1000 bytes, but the peer still has more than half the buffer: no window update.
        Assert.Equal(1000, ReadAll(c).Data.Length);
        h.Poll();
        h.ExpectNothing();

        // The next 1000 bytes leave 15384 free, within one segment of 15060: the window stays 15060, from the new RCV.NXT.
        h.Send(TcpFlags.Ack, Their(1000), Our(0), window: PeerWindow, payload: Bytes(1000));
        Assert.Equal(15060, h.Expect(TcpFlags.Ack, Our(0), Their(2000)).Window);

        // A full-sized segment: the free 13924 is below the 15060 offered, so it rounds down to nine segments of 1460,
        // 13140, but the 13600 still open stays (never shrinking: RFC 9293 §3.8.6.2.2, tcp_select_window).
        h.Send(TcpFlags.Ack, Their(2000), Our(0), window: PeerWindow, payload: Bytes(1460));
        Assert.Equal(13600, h.Expect(TcpFlags.Ack, Our(0), Their(3460)).Window);
        h.ExpectNothing();
    }

    [Fact]
    public void With_window_scaling_the_window_is_the_free_space_at_the_fields_granularity()
    {
        // 256 KiB, scale 3: a window of 8-byte units.
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, Fixed(256 * 1024));
        Assert.Equal(3, c.WindowScale.Receive);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(100));
        Assert.Equal(32755, h.Expect(TcpFlags.Ack, Our(0), Their(100)).Window); // (262144 - 100) / 8

        ReadAll(c);
        h.Poll();
        h.ExpectNothing(); // no update for 100 bytes

        // The right edge moves by the 100 bytes read, less than an MSS: with a scale Linux offers the free space itself.
        h.Send(TcpFlags.Ack, Their(100), Our(0), window: PeerWindow, payload: Bytes(100));
        Assert.Equal(32755, h.Expect(TcpFlags.Ack, Our(0), Their(200)).Window);
    }

    [Fact]
    public void With_window_scaling_less_than_a_sixteenth_of_the_buffer_free_keeps_the_right_edge()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, Fixed(256 * 1024));
        int shift = c.WindowScale.Receive;
        const int Filled = 256 * 1024 - 10_000; // 10000 bytes left free, below 262144 / 16
        for (int at = 0; at < Filled; at += 1460)
        {
            h.Send(TcpFlags.Ack, Their(at), Our(0), window: PeerWindow, payload: Bytes(Math.Min(1460, Filled - at)));
        }
        Assert.Equal(Filled, c.BytesToRead);
        Assert.Equal(Their(Filled), c.RcvNxt.Value);
        h.DrainSent();
        long edge = Filled + c.RcvWnd;

        // 2000 bytes read: 12000 free is still below a sixteenth; no window update, and the next ACK keeps the edge
        // (receiver SWS avoidance; Linux's __tcp_select_window answers 0 and tcp_select_window keeps the window).
        byte[] some = new byte[2000];
        Assert.Equal(ReceiveStatus.Data, c.Receive(some, out int read));
        Assert.Equal(2000, read);
        h.Poll();
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, Their(Filled), Our(0), window: PeerWindow, payload: Bytes(1000));
        Sent ack = h.Expect(TcpFlags.Ack, Our(0), Their(Filled + 1000));
        Assert.Equal(edge, Filled + 1000 + ((long)ack.Window << shift));
    }
}
