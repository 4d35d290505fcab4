using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.LimitFixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The caps on held data — out-of-order bytes and the stack's buffer memory: what does not fit is dropped unacknowledged
/// and counted, the sender's retransmission lands once there is room, and nothing acknowledged is ever lost.
/// </summary>
public class MemoryLimitTests
{
    private const int Segment = 1460;

    private static void Deliver(Harness h, byte[] data, int from, int to, ushort port = Harness.PeerPort)
    {
        for (int at = from; at < to; at += Segment)
        {
            int end = Math.Min(to, at + Segment);
            h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(at), Our(0), 502, data[at..end], sourcePort: port);
        }
    }

    /// <summary>Two established connections on a stack whose buffer memory is <paramref name="chunks"/> chunks.</summary>
    private static (Harness H, TcpConnection A, TcpConnection B) TwoConnections(int chunks)
    {
        var h = new Harness(new TcpConfig { MaxBufferMemory = chunks * BufferPool.ChunkSize });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        return (h, Open(h, listener, PortOf(0)), Open(h, listener, PortOf(1)));
    }

    private static byte[] ReadAll(TcpConnection c)
    {
        var read = new byte[c.BytesToRead];
        Assert.Equal(ReceiveStatus.Data, c.Receive(read, out int n));
        Assert.Equal(read.Length, n);
        return read;
    }

    [Fact]
    public void Out_of_order_data_past_its_cap_is_dropped_counted_and_taken_when_resent()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { MaxOutOfOrderBytes = 3000 });
        byte[] data = Bytes(4 * Segment);
        Deliver(h, data, Segment, 2 * Segment);
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // a duplicate ACK for each out-of-order segment
        Deliver(h, data, 2 * Segment, 3 * Segment); // 2920 held: within the cap
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        Deliver(h, data, 3 * Segment, 4 * Segment); // 4380 would be past it: dropped
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPOFOQueue]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPOFODrop]);

        Deliver(h, data, 0, Segment); // the gap fills: the held two follow
        h.Expect(TcpFlags.Ack, Our(0), Their(3 * Segment));
        Deliver(h, data, 3 * Segment, 4 * Segment); // the sender's retransmission of the dropped one
        Assert.Equal(Their(4 * Segment), c.RcvNxt.Value);
        Assert.Equal(data, ReadAll(c));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPOFODrop]);
    }

    [Fact]
    public void A_segment_wholly_held_already_is_neither_queued_again_nor_dropped()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { MaxOutOfOrderBytes = Segment });
        byte[] data = Bytes(2 * Segment);
        Deliver(h, data, Segment, 2 * Segment);
        Deliver(h, data, Segment, 2 * Segment); // at the cap, but nothing new
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPOFOQueue]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPOFODrop]);
        Deliver(h, data, 0, Segment);
        Assert.Equal(data, ReadAll(c));
    }

    [Fact]
    public void When_the_stacks_buffer_memory_runs_out_arriving_data_is_dropped_unacknowledged_and_taken_again_once_memory_frees()
    {
        (Harness h, TcpConnection a, TcpConnection b) = TwoConnections(chunks: 4);
        byte[] forA = Bytes(33 * Segment); // 48,180 bytes: three of the four chunks, held unread
        byte[] forB = [.. Bytes(20 * Segment).Select(x => (byte)(x ^ 0x5A))];
        Deliver(h, forA, 0, forA.Length, PortOf(0));
        Assert.Equal(forA.Length, a.BytesToRead);
        h.DrainSent();

        // B's window, offered while memory was free, admits 29,200 bytes; one chunk (16,384) is left to hold them.
        Deliver(h, forB, 0, forB.Length, PortOf(1));
        Assert.Equal(BufferPool.ChunkSize, b.BytesToRead);
        Assert.Equal(Their(BufferPool.ChunkSize), b.RcvNxt.Value);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRcvQDrop]); // the segment cut at the chunk's end
        Assert.Equal(8, h.Engine.Counters[MibCounter.TcpExtTCPOFODrop]); // those after it, out of order now
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPMemoryPressures]);
        var acks = new List<Sent>();
        while (h.TryNext() is Sent sent) acks.Add(sent);
        Assert.All(acks, ack => Assert.True(ack.Ack - Their(0) <= BufferPool.ChunkSize, $"acknowledged beyond what was held: {ack}"));
        Assert.Contains(acks, ack => ack.Ack == Their(BufferPool.ChunkSize));
        Assert.All(acks, ack => Assert.True(ack.Window << 3 <= BufferPool.ChunkSize * 4, $"a window no memory backs: {ack}"));

        // A's application reads: its chunks go back, and the sender's retransmissions to B land.
        Assert.Equal(forA, ReadAll(a));
        Deliver(h, forB, BufferPool.ChunkSize, forB.Length, PortOf(1));
        Assert.Equal(forB, ReadAll(b));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRcvQDrop]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPMemoryPressures]);
    }

    [Fact]
    public void A_write_cut_short_by_the_stacks_buffer_memory_waits_for_an_event_and_loses_nothing()
    {
        (Harness h, TcpConnection a, TcpConnection b) = TwoConnections(chunks: 2);
        byte[] data = Bytes(40_000);

        int queued = a.Send(data);
        Assert.Equal(2 * BufferPool.ChunkSize, queued); // the send buffer has room for all; memory for two chunks
        Assert.Equal(0, b.Send(data.AsSpan(0, 100)));
        Assert.Equal(2, h.Engine.Counters[MibCounter.UserTcpSendMemoryShort]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPMemoryPressures]);

        // The peer acknowledges what A sends; once the front passes a chunk it frees, and the waiting writers hear of it.
        var received = new List<byte>();
        h.Poll();
        while (received.Count < data.Length)
        {
            // A writer that heard memory is free writes on (its tail may already be out: Nagle holds no partial segment
            // while none is unacknowledged), and what it wrote goes on the next pass.
            if (h.Log.Of(TcpEventKind.MemoryAvailable).Any(e => e.Connection == a.Id) && queued < data.Length)
            {
                queued += a.Send(data.AsSpan(queued));
                h.Poll();
            }
            bool any = false;
            while (h.TryNext() is Sent sent)
            {
                if (sent.DestinationPort != PortOf(0) || sent.Payload.Length == 0) continue;
                Assert.Equal(Our(received.Count), sent.Seq); // in order, nothing lost, nothing twice
                received.AddRange(sent.Payload);
                any = true;
            }
            Assert.True(any, $"A stalled at {received.Count}");
            h.Send(TcpFlags.Ack, Their(0), Our(received.Count), 502, sourcePort: PortOf(0));
        }
        Assert.Equal(data, received.ToArray());
        Assert.Contains(h.Log.Of(TcpEventKind.MemoryAvailable), e => e.Connection == b.Id);
        Assert.Equal(100, b.Send(data.AsSpan(0, 100)));
    }

    [Fact]
    public void A_window_memory_held_shut_opens_with_a_window_update_once_another_connection_frees_memory()
    {
        var h = new Harness(new TcpConfig { MaxBufferMemory = 2 * BufferPool.ChunkSize });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        TcpConnection a = Open(h, listener, PortOf(0));
        byte[] forA = Bytes(2 * BufferPool.ChunkSize);
        Deliver(h, forA, 0, forA.Length, PortOf(0));
        // All the stack's buffer memory, unread, up to the last right edge A's scaled window could show: its SYN-ACK offered
        // 32120 (rounded down to the MSS, as Linux's), and each scaled field is a multiple of 1 << 7 (RFC 7323 Appendix F).
        int heldByA = a.BytesToRead;
        Assert.InRange(heldByA, forA.Length - 127, forA.Length);
        h.DrainSent();

        // B opens while no memory is left: its SYN-ACK offers no window, and the peer can only probe.
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: PortOf(1));
        Sent synAck = h.Next();
        Assert.Equal((TcpFlags.Syn | TcpFlags.Ack, (ushort)0), (synAck.Flags, synAck.Window));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: PortOf(1));
        Assert.True(listener.TryAccept(out TcpConnection b));
        h.ExpectNothing();

        // A's application reads: A's own window update, and B's, which no segment of B's asked for.
        Assert.Equal(forA[..heldByA], ReadAll(a));
        h.Poll();
        var sent = new List<Sent>();
        while (h.TryNext() is Sent s) sent.Add(s);
        Sent update = Assert.Single(sent, s => s.DestinationPort == PortOf(1));
        Assert.Equal((TcpFlags.Ack, Our(0), Their(0)), (update.Flags, update.Seq, update.Ack));
        Assert.True(update.Window > 0, $"no window in {update}");
        Assert.Equal(TcpState.Established, b.State);
        h.Poll();
        h.ExpectNothing(); // once: no second update
    }
}
