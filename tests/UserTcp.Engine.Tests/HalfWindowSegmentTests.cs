using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Linux's tcp_bound_to_half_wnd: segments are cut to half the largest window the peer has offered once that is over
/// 536 bytes (to the whole window below), never under 68 bytes less the TCP header, and tcpi_snd_mss says so.
/// tests/scripts/data/segments-bound-to-half-the-largest-window.pkt: the same on Linux 6.18.
/// </summary>
public class HalfWindowSegmentTests
{
    [Fact]
    public void Segments_are_cut_to_half_the_largest_window_until_a_larger_one_comes()
    {
        (Harness h, TcpConnection c) = EstablishedWithWindow(8); // 8 << 7 = 1024 bytes, the largest so far
        Assert.Equal(512, c.Info().SegmentMss);
        Assert.Equal(512, c.SegmentMss); // TCP_MAXSEG's mss_cache
        Assert.Equal(1460, c.SendMss); // the MSS the handshake settled stays
        Assert.Equal(1460, c.Info().SendMss);
        Assert.Equal(10 * 1460, c.CongestionWindow); // cwnd still counts full segments

        c.Send(Bytes(1000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 512); // not one 1000-byte segment, though it all fits the window
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(512), Their(0), 488);
        h.ExpectNothing();

        h.Advance(Ms(100));
        h.Send(TcpFlags.Ack, Their(0), Our(1000), window: 8);
        c.Send(Bytes(1000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(1000), Their(0), 512);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1512), Their(0), 488);
        h.ExpectNothing();

        // A larger window: full segments again.
        h.Advance(Ms(100));
        h.Send(TcpFlags.Ack, Their(0), Our(2000), window: 502);
        Assert.Equal(1460, c.Info().SegmentMss);
        c.Send(Bytes(3000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(2000), Their(0), 1460);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3460), Their(0), 1460);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(4920), Their(0), 80);
        h.ExpectNothing();
    }

    [Fact]
    public void Up_to_536_bytes_the_whole_largest_window_is_one_segment()
    {
        (Harness h, TcpConnection c) = EstablishedWithWindow(3); // 384 bytes: not halved
        Assert.Equal(384, c.Info().SegmentMss);
        c.Send(Bytes(1000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 384);
        h.ExpectNothing();
    }

    [Fact]
    public void The_cut_never_goes_under_68_bytes_less_the_header_and_no_window_means_no_cut()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: new TcpOptions { MaxSegmentSize = 1460 }); // no window scaling
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 0);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(1460, c.Info().SegmentMss); // nothing offered yet (Linux: max_window 0)
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 20);
        Assert.Equal(68 - 20, c.Info().SegmentMss);
        h.ExpectNothing();
    }

    /// <summary>ESTABLISHED by passive open, the handshake's ACK offering <paramref name="window"/> &lt;&lt; 7 bytes.</summary>
    private static (Harness H, TcpConnection C) EstablishedWithWindow(ushort window)
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: window);
        Assert.True(listener.TryAccept(out TcpConnection c));
        h.ExpectNothing();
        return (h, c);
    }
}
