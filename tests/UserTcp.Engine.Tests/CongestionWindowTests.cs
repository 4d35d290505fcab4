using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

public class CongestionWindowTests
{
    [Fact]
    public void Cwnd_does_not_grow_while_the_peers_window_is_the_limit()
    {
        (Harness h, TcpConnection c) = Established();
        // The peer offers 4 segments (46 << 7 = 5888 bytes), well under the initial cwnd of 10.
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 46);
        int initial = c.CongestionWindow;
        c.Send(Bytes(100 * 1460));
        h.Poll();
        int acked = 0;
        for (int round = 0; round < 20; round++)
        {
            while (h.PendingCount > 0) acked = Math.Max(acked, (int)(h.Next().Seq - Our(0)) + 1460);
            h.Send(TcpFlags.Ack, PeerIsn + 1, Our(acked), window: 46);
        }
        Assert.True(acked >= 40 * 1460, $"only {acked} bytes went out");
        Assert.Equal(initial, c.CongestionWindow);
    }

    [Fact]
    public void Cwnd_grows_in_slow_start_while_it_is_the_limit()
    {
        (Harness h, TcpConnection c) = Established();
        int initial = c.CongestionWindow;
        c.Send(Bytes(100 * 1460));
        h.Poll();
        int acked = 0;
        while (h.PendingCount > 0) acked = Math.Max(acked, (int)(h.Next().Seq - Our(0)) + 1460);
        Assert.Equal(10 * 1460, acked); // IW10 filled: cwnd is the limit
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(acked), window: 502);
        // Slow start grows by all an ACK acknowledges, as Linux's tcp_slow_start (no RFC 9406 L): this ACK covers 10 segments.
        Assert.Equal(initial + 10 * 1460, c.CongestionWindow);
    }
}
