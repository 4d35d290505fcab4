using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Receive-buffer auto-tuning (Linux's DRS, docs/design.md "The engine", Receive-buffer auto-tuning): the buffer, and so the window,
/// grows with what the application reads per round trip, up to the configured maximum; it does not grow for a reader
/// that does not keep up, nor when its size is fixed. A bulk peer here sends a round trip's worth of data at a time.
/// </summary>
public class ReceiveBufferTuningTests
{
    private const int Max = 1 << 20;
    private static readonly TimeSpan Rtt = Ms(10);

    /// <summary>
    /// A peer that sends, once per <see cref="Rtt"/>, what the window allows (or <paramref name="perRound"/> bytes), and
    /// a reader that reads all of it (or nothing) a millisecond later. Returns the buffer's size after each round, and
    /// checks every ACK: the window's right edge never moves back (RFC 9293 §3.8.6.2.2) beyond the scale's rounding.
    /// </summary>
    private static List<int> Rounds(Harness h, TcpConnection c, int rounds, int? perRound = null, bool read = true, bool timestamps = false)
    {
        var sizes = new List<int>();
        int sent = 0;
        uint echo = 0;
        long rightEdge = 0;
        int shift = c.WindowScale.Receive;
        TimeSpan start = h.Now;
        for (int round = 0; round < rounds; round++)
        {
            h.AdvanceTo(start + round * Rtt);
            int budget = Math.Min(perRound ?? int.MaxValue, (int)c.RcvWnd);
            for (int n = 0; n < budget;)
            {
                int length = Math.Min(1448, budget - n);
                TcpOptions options = timestamps ? new TcpOptions { Timestamp = new TcpTimestamp(ModernPeer.PeerTs(h), echo) } : default;
                h.Send(TcpFlags.Ack, Their(sent), Our(0), window: PeerWindow, payload: Bytes(length), options: options);
                sent += length;
                n += length;
            }
            h.AdvanceTo(start + round * Rtt + Ms(1));
            if (read) ReadAll(c);
            h.Poll();
            while (h.TryNext() is Sent ack)
            {
                // The field's granularity may show up to 2^shift - 1 bytes less (RFC 7323 Appendix F); what we accept
                // stays (Receiver keeps the edge), and the buffer never shrinks, so that is all it may show.
                long edge = (long)(ack.Ack - Their(0)) + ((long)ack.Window << shift);
                Assert.True(edge > rightEdge - (1 << shift), $"round {round}: the right edge moved back from {rightEdge} to {edge}");
                rightEdge = Math.Max(rightEdge, edge);
                if (ack.Options.Timestamp is TcpTimestamp ts) echo = ts.Value;
            }
            sizes.Add(c.ReceiveBufferSize);
        }
        return sizes;
    }

    // The peer sends `budget` bytes of new data from offset `sent` in full segments; returns the offset after them.
    private static int Fill(Harness h, int sent, int budget)
    {
        for (int end = sent + budget; sent < end; sent += Math.Min(1448, end - sent))
        {
            h.Send(TcpFlags.Ack, Their(sent), Our(0), window: PeerWindow, payload: Bytes(Math.Min(1448, end - sent)));
        }
        return sent;
    }

    [Fact]
    public void The_buffer_starts_at_64_KiB_with_window_scale_7_and_grows_to_the_maximum_for_a_reader_that_keeps_up()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt, new TcpConfig { MaxReceiveBufferSize = Max });
        Assert.Equal(64 * 1024, c.ReceiveBufferSize); // Linux's first window after the handshake is about 64 KiB too
        Assert.Equal(5, c.WindowScale.Receive); // the smallest shift that covers the 1 MiB maximum

        List<int> sizes = Rounds(h, c, rounds: 8);

        Assert.True(sizes.SequenceEqual(sizes.Order()), $"the buffer shrank: {string.Join(", ", sizes)}");
        Assert.Equal(Max, sizes[^1]); // capped at the maximum, never beyond it
        Assert.True(sizes.IndexOf(Max) <= 4, $"slow growth: {string.Join(", ", sizes)}");
        Assert.Equal((uint)Max, c.RcvWnd); // everything read: the whole buffer is offered
        Assert.False(c.HoldsBufferMemory); // and it holds no memory while empty
        TcpConnectionInfo info = c.Info();
        Assert.Equal(Max, info.ReceiveBufferSize);
        Assert.InRange(info.ReceiveRtt, Rtt, Rtt + Ms(1)); // a window's worth took a round trip to arrive
        Assert.True(info.ReceiveSpace > 64 * 1024, $"tcpi_rcv_space {info.ReceiveSpace}");
    }

    [Fact]
    public void The_buffer_follows_the_rate_the_application_reads_at_not_the_maximum()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt); // up to 6 MiB
        const int PerRound = 30_000; // the peer's application sends 30 kB per round trip

        List<int> sizes = Rounds(h, c, rounds: 20, perRound: PerRound);

        // Growth while the measured rate climbed from the initial ten segments, then none: the rate stays 30 kB. Without
        // timestamps the receiver's RTT is how long a window's worth took to arrive (several rounds here, as the
        // sender does not fill it), so the rate it measures is several rounds' worth: the buffer settles at about ten
        // rounds of data, far below the 6 MiB maximum.
        Assert.True(sizes[^1] is > 2 * PerRound and < 16 * PerRound, string.Join(", ", sizes));
        Assert.Equal(sizes[^1], sizes[8]);
    }

    [Fact]
    public void A_reader_that_does_not_read_grows_nothing_and_the_window_closes()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt, new TcpConfig { MaxReceiveBufferSize = Max });

        List<int> sizes = Rounds(h, c, rounds: 6, read: false);

        Assert.All(sizes, size => Assert.Equal(64 * 1024, size));
        Assert.Equal(0u, c.RcvWnd);
        // The whole 64 KiB buffer and nothing more: the SYN-ACK offered 64240 (rounded down to the MSS), the first scaled
        // ACK all the free space (512 << 7), and no ACK after it moved the right edge.
        Assert.Equal(64 * 1024, c.BytesToRead);
    }

    [Fact]
    public void A_reader_that_falls_behind_does_not_grow_the_buffer()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt, new TcpConfig { MaxReceiveBufferSize = Max });
        var buffer = new byte[10_000];
        int sent = 0;
        TimeSpan start = h.Now;
        for (int round = 0; round < 10; round++)
        {
            h.AdvanceTo(start + round * Rtt);
            sent = Fill(h, sent, (int)c.RcvWnd);
            h.AdvanceTo(start + round * Rtt + Ms(1));
            c.Receive(buffer, out _); // 10 kB a round trip while the peer fills the window: the backlog is never read
            h.Poll();
            h.DrainSent();
        }
        Assert.Equal(64 * 1024, c.ReceiveBufferSize); // what still waits in the buffer does not count as read (Linux's inq)
    }

    [Fact]
    public void Without_auto_tuning_the_buffer_keeps_its_size_and_the_scale_covers_only_it()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt, new TcpConfig { ReceiveBufferAutoTuning = false, MaxReceiveBufferSize = Max });
        Assert.Equal(1, c.WindowScale.Receive); // 64 KiB needs shift 1, whatever the maximum

        List<int> sizes = Rounds(h, c, rounds: 6);

        Assert.All(sizes, size => Assert.Equal(64 * 1024, size));
        Assert.Equal(0, c.Info().ReceiveSpace);
    }

    [Fact]
    public void With_timestamps_the_receiver_rtt_comes_from_the_echo_and_the_buffer_grows()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Rtt, new TcpConfig { MaxReceiveBufferSize = Max });

        List<int> sizes = Rounds(h, c, rounds: 8, timestamps: true);

        // Our ACK at 1 ms past each round carries TSval = that millisecond; the next round's data echoes it 9 ms later.
        Assert.InRange(c.Info().ReceiveRtt, Ms(9), Ms(10));
        Assert.Equal(Max, sizes[^1]);
    }

    [Fact]
    public void A_low_rtt_link_still_reaches_the_maximum_without_overshooting_it()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(1), new TcpConfig { MaxReceiveBufferSize = Max });
        var sizes = new List<int>();
        int sent = 0;
        TimeSpan start = h.Now;
        for (int round = 0; round < 40 && c.ReceiveBufferSize < Max; round++)
        {
            // Rounds of 200 µs: the growth beyond twice the rate is scaled by RTT / 1 ms (Linux's tcp_rcvbuf_low_rtt).
            h.AdvanceTo(start + TimeSpan.FromMicroseconds(200 * round));
            sent = Fill(h, sent, (int)c.RcvWnd);
            h.AdvanceTo(start + TimeSpan.FromMicroseconds(200 * round + 100));
            ReadAll(c);
            h.Poll();
            h.DrainSent();
            sizes.Add(c.ReceiveBufferSize);
        }
        Assert.True(Max == c.ReceiveBufferSize, string.Join(", ", sizes));
        // Each growth is at most 2.2 times the rate read in a round trip (2 × (1 + 0.1 ms / 1 ms)... the rate itself at
        // most the window): no jump straight to the maximum.
        for (int i = 1; i < sizes.Count; i++) Assert.True(sizes[i] <= 3 * sizes[i - 1], $"round {i}: {sizes[i - 1]} to {sizes[i]}");
    }
}
