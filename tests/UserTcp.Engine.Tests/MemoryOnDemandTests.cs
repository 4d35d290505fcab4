using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Memory on demand (issue 10): the send and receive buffers and the retransmission queue's ring come from the engine's
/// pool while data is there and go back when it is drained, so an idle connection holds none.
/// </summary>
public class MemoryOnDemandTests
{
    private const uint Isn = Fixtures.Isn;
    private const uint PeerIsn = Fixtures.PeerIsn;

    [Fact]
    public void A_new_established_connection_holds_no_buffer_memory()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        Assert.False(c.HoldsBufferMemory);
        Assert.Equal(0, h.Engine.BufferPool.ChunksInUse);
    }

    [Fact]
    public void Received_bytes_hold_a_chunk_until_the_application_reads_them()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, Isn + 1, window: 502, payload: new byte[100]);
        Assert.True(c.HoldsBufferMemory);
        Assert.Equal(1, h.Engine.BufferPool.ChunksInUse);

        byte[] buffer = new byte[60];
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer, out int first));
        Assert.Equal(60, first);
        Assert.True(c.HoldsBufferMemory); // 40 bytes still unread
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer, out int second));
        Assert.Equal(40, second);
        Assert.False(c.HoldsBufferMemory);
        Assert.Equal(0, h.Engine.BufferPool.ChunksInUse);
        Assert.Equal(1, h.Engine.BufferPool.ChunksRetained); // kept for the next burst: no allocation then
    }

    [Fact]
    public void Sent_bytes_hold_a_chunk_and_a_ring_until_acknowledged()
    {
        (Harness h, TcpConnection c) = Fixtures.Established(new TcpConfig { NoDelay = true });
        Assert.Equal(100, c.Send(new byte[100]));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, PeerIsn + 1, payloadLength: 100);
        Assert.True(c.HoldsBufferMemory);

        h.Send(TcpFlags.Ack, PeerIsn + 1, unchecked(Isn + 51), window: 502); // half of it
        Assert.True(c.HoldsBufferMemory);
        h.Send(TcpFlags.Ack, PeerIsn + 1, unchecked(Isn + 101), window: 502);
        Assert.False(c.HoldsBufferMemory);
        Assert.Equal(0, h.Engine.BufferPool.ChunksInUse);
    }

    [Fact]
    public void A_transfer_larger_than_a_chunk_comes_out_intact_and_leaves_nothing_lent()
    {
        (Harness h, TcpConnection c) = Fixtures.Established(new TcpConfig { NoDelay = true });
        byte[] data = new byte[3 * BufferPool.ChunkSize + 1234];
        new Random(7).NextBytes(data);
        Assert.Equal(data.Length, c.Send(data));
        var received = new List<byte>();
        uint acked = Isn + 1;
        for (int round = 0; round < 200 && received.Count < data.Length; round++)
        {
            h.Poll();
            Sent? last = null;
            for (Sent? s = h.TryNext(); s is not null; s = h.TryNext())
            {
                received.AddRange(s.Payload);
                last = s;
            }
            if (last is null) break;
            acked = last.Seq + (uint)last.Payload.Length;
            h.Send(TcpFlags.Ack, PeerIsn + 1, acked, window: 502);
        }
        Assert.Equal(data, received.ToArray());
        Assert.False(c.HoldsBufferMemory);
        Assert.Equal(0, h.Engine.BufferPool.ChunksInUse);
    }

    [Fact]
    public void The_queue_takes_chunks_as_it_fills_and_gives_each_back_as_it_empties()
    {
        var pool = new BufferPool();
        var queue = new PooledByteQueue(pool, 2 * BufferPool.ChunkSize + 10);
        byte[] data = new byte[queue.Capacity + 100];
        new Random(3).NextBytes(data);

        Assert.Equal(queue.Capacity, queue.Write(data)); // only what fits
        Assert.Equal(3, pool.ChunksInUse);
        Assert.Equal(0, queue.Free);
        Assert.True(queue.Contiguous(BufferPool.ChunkSize - 5, 10).IsEmpty); // crosses a chunk boundary
        Assert.Equal(data.AsSpan(BufferPool.ChunkSize, 10).ToArray(), queue.Contiguous(BufferPool.ChunkSize, 10).ToArray());
        byte[] peeked = new byte[20];
        Assert.Equal(20, queue.Peek(BufferPool.ChunkSize - 10, peeked));
        Assert.Equal(data.AsSpan(BufferPool.ChunkSize - 10, 20).ToArray(), peeked);

        queue.Discard(BufferPool.ChunkSize + 1);
        Assert.Equal(2, pool.ChunksInUse);
        Assert.Equal(BufferPool.ChunkSize + 1, queue.Write(data)); // room again, appended after the rest
        byte[] rest = new byte[queue.Count];
        Assert.Equal(rest.Length, queue.Read(rest));
        Assert.Equal(data.AsSpan(BufferPool.ChunkSize + 1, queue.Capacity - BufferPool.ChunkSize - 1).ToArray(), rest[..(queue.Capacity - BufferPool.ChunkSize - 1)]);
        Assert.Equal(data.AsSpan(0, BufferPool.ChunkSize + 1).ToArray(), rest[(queue.Capacity - BufferPool.ChunkSize - 1)..]);
        Assert.False(queue.HoldsMemory);
        Assert.Equal(0, pool.ChunksInUse);
        Assert.Equal(3, pool.ChunksRetained);
    }

    [Fact]
    public void A_megabyte_queue_written_in_odd_pieces_out_of_order_and_read_while_filling_gives_every_byte_back_in_order()
    {
        // Appends find the last chunk at once (no walk from the front): the bytes must still land where they belong.
        var pool = new BufferPool();
        var queue = new PooledByteQueue(pool, 1 << 20);
        byte[] data = new byte[3 << 20];
        new Random(5).NextBytes(data);
        var random = new Random(7);
        var read = new List<byte>();
        int written = 0;
        byte[] buffer = new byte[50_000];
        while (read.Count < data.Length)
        {
            int piece = Math.Min(random.Next(1, 20_000), data.Length - written);
            if (piece > 0 && queue.CanWriteAt(piece, piece))
            {
                // The next piece arrives first, held ahead; then the one before it fills the gap.
                Assert.True(queue.WriteAt(piece, data.AsSpan(written + piece, Math.Min(piece, data.Length - written - piece))));
                Assert.Equal(piece, queue.Write(data.AsSpan(written, piece)));
                int ahead = Math.Min(piece, data.Length - written - piece);
                queue.Commit(ahead);
                written += piece + ahead;
            }
            else if (piece > 0)
            {
                written += queue.Write(data.AsSpan(written, piece));
            }
            int n = queue.Read(buffer.AsSpan(0, random.Next(1, buffer.Length)));
            read.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        Assert.Equal(data, read.ToArray());
        Assert.False(queue.HoldsMemory);
    }

    [Fact]
    public void The_timer_heap_holds_one_entry_per_connection_with_a_timer_and_none_once_it_closes()
    {
        (Harness h, TcpConnection c) = Fixtures.Established(new TcpConfig { NoDelay = true, KeepAlive = true });
        uint acked = unchecked(Isn + 1);
        for (int i = 0; i < 50; i++)
        {
            // Each round arms and re-arms the RTO, the loss probe and keepalive, and moves them later.
            Assert.Equal(10, c.Send(new byte[10]));
            h.Poll();
            h.Next();
            acked += 10;
            h.Send(TcpFlags.Ack, PeerIsn + 1, acked, window: 502);
            h.Advance(TimeSpan.FromMilliseconds(5));
            Assert.Equal(1, h.Engine.Timers.Count);
        }
        c.Abort();
        h.Poll();
        Assert.Equal(0, h.Engine.Timers.Count);
        Assert.Null(h.Engine.PollAt);
    }
}

/// <summary>TIME-WAIT as a compact record (issue 10, Linux's tcp_timewait_sock): the engine forgets the connection.</summary>
public class TimeWaitRecordTests
{
    private const uint Isn = Fixtures.Isn;
    private const uint PeerIsn = Fixtures.PeerIsn;

    [Fact]
    public void Time_wait_leaves_only_a_record_with_the_tuple_sequence_numbers_and_deadline()
    {
        (Harness h, TcpConnection c) = Fixtures.TimeWait();
        Assert.Empty(h.Engine.Connections);
        TimeWaitRecord record = Assert.Single(h.Engine.TimeWaits);
        Assert.Equal(Harness.Id, record.Id);
        Assert.Equal(unchecked(Isn + 2), record.SndNxt.Value);
        Assert.Equal(PeerIsn + 2, record.RcvNxt.Value);
        Assert.Equal(h.Now + h.Config.TimeWait, record.Deadline);
        Assert.Equal(TcpState.TimeWait, c.State); // the application's object reads its state through the record
        Assert.Equal(record.Deadline, c.TimerDeadline(TcpTimer.TimeWait));
        Assert.False(c.HoldsBufferMemory);
        Assert.Equal(1, h.Engine.Timers.Count);

        h.AdvanceTo(h.Now + h.Config.TimeWait);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpState.Closed, record.State);
        Assert.Empty(h.Engine.TimeWaits);
        Assert.Equal(0, h.Engine.Timers.Count);
        h.ExpectNothing();
    }

    [Fact]
    public void The_record_reacknowledges_a_retransmitted_fin_and_restarts_2msl_and_answers_nothing_else_twice()
    {
        (Harness h, TcpConnection c) = Fixtures.TimeWait();
        h.Advance(TimeSpan.FromSeconds(30));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, unchecked(Isn + 2), window: 502);
        h.Expect(TcpFlags.Ack, unchecked(Isn + 2), PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(h.Now + h.Config.TimeWait, c.TimerDeadline(TcpTimer.TimeWait));

        h.Send(TcpFlags.Ack, PeerIsn + 2, unchecked(Isn + 2), window: 502); // a bare ACK in window: nothing to say
        h.ExpectNothing();
        h.Send(TcpFlags.Rst, PeerIsn + 2); // Linux's default: a RST at RCV.NXT ends TIME-WAIT
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Empty(h.Engine.TimeWaits);
    }
}
