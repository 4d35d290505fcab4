using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// <see cref="SendBufferAccounting.LinuxTruesize"/>: SO_SNDBUF limits data plus 832 bytes per skb, a write starts an skb
/// only while that is under the limit (tcp_sendmsg_locked), and the connection is writable, or a blocked writer woken,
/// only once a third of the limit is free (sk_stream_write_space). The numbers are Linux 6.18's for the same exchange
/// (tests/scripts/sockopt/sndbuf-linux-accounting.pkt, checked there with tools/linux-check).
/// </summary>
public class SendBufferAccountingTests
{
    private const int Limit = 20_000;

    /// <summary>
    /// ESTABLISHED by passive open with a peer whose MSS is 1000 and whose window is 4000 bytes (scale 0): the size goal
    /// is 2000 bytes, two skbs leave at once, and cwnd (10 segments) never limits.
    /// </summary>
    private static (Harness H, TcpConnection C) Connection(SendBufferAccounting accounting, int limit = Limit, ushort window = 4000, byte scale = 0)
    {
        var h = new Harness(new TcpConfig { SendBufferSize = limit, SendBufferAccounting = accounting });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, window: (ushort)Math.Min(window << scale, ushort.MaxValue), options: new TcpOptions { MaxSegmentSize = 1000, WindowScale = scale });
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: window);
        Assert.True(listener.TryAccept(out TcpConnection c));
        return (h, c);
    }

    private static void Ack(Harness h, int bytes) => h.Send(TcpFlags.Ack, Their(0), Our(bytes), window: 4000);

    [Fact]
    public void A_write_starts_skbs_while_the_memory_is_under_the_limit_and_takes_no_byte_after()
    {
        (Harness h, TcpConnection c) = Connection(SendBufferAccounting.LinuxTruesize);

        // Two skbs of 2000 leave at once, six wait: 16000 bytes and 8 × 832 make 22656, over the limit after the last.
        Assert.Equal(16_000, c.Send(Bytes(30_000)));
        Assert.Equal(0, c.Send(Bytes(1))); // not one byte more
        h.Poll();
        for (int i = 0; i < 4; i++) h.Next();
        h.ExpectNothing();
        Assert.Equal(0, c.Send(Bytes(1)));

        // The ACK of 4000 frees two skbs (5664): 16992 is under the limit, so a write starts two skbs again.
        Ack(h, 4000);
        h.DrainSent();
        Assert.Equal(4000, c.Send(Bytes(10_000)));
        Assert.Equal(0, c.Send(Bytes(1)));
    }

    [Fact]
    public void The_rest_of_an_skb_the_windows_cut_fills_to_the_goal_without_asking_for_memory()
    {
        // Window 502 << 7: a 32000-byte goal. cwnd lets 10000 go at once, which with its skb (10832) is over the limit of
        // 10500, yet the rest of that skb, a new one at the tail, is filled to the goal: 42000, as Linux 6.18 returns.
        (_, TcpConnection c) = Connection(SendBufferAccounting.LinuxTruesize, limit: 10_500, window: 502, scale: 7);
        Assert.Equal(42_000, c.Send(Bytes(60_000)));
        Assert.Equal(0, c.Send(Bytes(1)));
    }

    [Fact]
    public void Data_byte_accounting_takes_the_limit_in_data()
    {
        (_, TcpConnection c) = Connection(SendBufferAccounting.DataBytes);
        Assert.Equal(Limit, c.Send(Bytes(30_000)));
        Assert.Equal(0, c.Send(Bytes(1)));
        Assert.False(c.WriteWaitsForWakeup); // a waiting write resumes at any room
    }

    [Fact]
    public void Writable_only_once_a_third_of_the_limit_is_free()
    {
        (Harness h, TcpConnection c) = Connection(SendBufferAccounting.LinuxTruesize);
        Assert.True(c.IsWritable);
        Assert.Equal(16_000, c.Send(Bytes(30_000)));
        h.Poll();
        h.DrainSent();
        Assert.False(c.IsWritable); // 22656
        Assert.True(c.WriteWaitsForWakeup);

        Ack(h, 4000);
        h.DrainSent();
        // 16992: under the limit, yet free (3008) is less than half of what is queued: no wake-up.
        Assert.False(c.IsWritable);
        Assert.True(c.WriteWaitsForWakeup);

        h.AdvanceTo(h.Now + Ms(100));
        Ack(h, 8000);
        h.DrainSent();
        // 11328: free 8672 is at least half of it.
        Assert.True(c.IsWritable);
        Assert.False(c.WriteWaitsForWakeup);
    }

    [Fact]
    public void A_write_that_fills_the_buffer_and_an_ack_below_the_threshold_keep_the_writer_asleep()
    {
        (Harness h, TcpConnection c) = Connection(SendBufferAccounting.LinuxTruesize);
        Assert.Equal(16_000, c.Send(Bytes(30_000)));
        h.Poll();
        h.DrainSent();
        Ack(h, 4000);
        h.DrainSent();
        Assert.Equal(4000, c.Send(Bytes(10_000))); // back to 22656
        h.AdvanceTo(h.Now + Ms(100));
        Ack(h, 8000);
        h.DrainSent();
        Assert.False(c.IsWritable); // 16992 again: still asleep
        Assert.True(c.WriteWaitsForWakeup);
        h.AdvanceTo(h.Now + Ms(100));
        Ack(h, 12_000);
        Assert.True(c.IsWritable); // 11328
    }
}
