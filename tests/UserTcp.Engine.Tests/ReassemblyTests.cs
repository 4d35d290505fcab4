using UserTcp.Testing;
using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The out-of-order queue (issue 15): bytes are written once into the receive buffer at their place in the window, the
/// queue keeps only ranges in a fixed array, so holding and merging neither allocate nor cost more than one pass over
/// at most <see cref="ReassemblyQueue.MaxRanges"/> entries per segment, in whatever order segments arrive.
/// </summary>
public class ReassemblyTests
{
    private const int Segment = 1448;

    [Fact]
    public void Segments_in_any_order_with_overlaps_reach_the_application_as_sent()
    {
        var random = new Random(3);
        for (int round = 0; round < 20; round++)
        {
            (Harness h, TcpConnection c) = Established();
            byte[] original = new byte[40_000];
            random.NextBytes(original);
            // Overlapping pieces of random sizes in random order; the first byte arrives last.
            var pieces = new List<(int Offset, int Length)>();
            for (int offset = 1; offset < original.Length;)
            {
                int length = Math.Min(random.Next(1, 3000), original.Length - offset);
                pieces.Add((offset, length));
                offset += Math.Max(1, length - random.Next(0, 200));
            }
            foreach ((int offset, int length) in pieces.OrderBy(_ => random.Next()))
            {
                h.Send(TcpFlags.Ack, Their(offset), Our(0), window: PeerWindow, payload: original[offset..(offset + length)]);
            }
            Assert.Equal(0, c.BytesToRead);
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: original[..1]);
            Assert.Equal(original, ReadAll(c).Data);
            h.DrainSent();
            Assert.Equal(Their(original.Length), c.RcvNxt.Value);
        }
    }

    [Fact]
    public void Held_ranges_match_a_byte_by_byte_model_across_the_sequence_wrap()
    {
        var random = new Random(7);
        var start = new SeqNumber(0xFFFF_0000);
        for (int round = 0; round < 200; round++)
        {
            var queue = new ReassemblyQueue();
            bool[] held = new bool[20_000];
            for (int i = 0; i < 40; i++)
            {
                int from = random.Next(1, held.Length - 1), length = random.Next(1, 1500);
                int to = Math.Min(held.Length, from + length);
                Assert.True(queue.Add(start + from, start + to));
                for (int b = from; b < to; b++) held[b] = true;
            }
            var expected = new List<(SeqNumber, SeqNumber)>();
            for (int b = 0; b < held.Length; b++)
            {
                if (!held[b] || b > 0 && held[b - 1]) continue;
                int end = b;
                while (end < held.Length && held[end]) end++;
                expected.Add((start + b, start + end));
            }
            Assert.Equal(expected, queue.Ranges.ToList());
            Assert.Equal(held.Count(b => b), queue.Count);

            // RCV.NXT moves to a point inside or between ranges: what follows it without a gap is taken.
            int rcvNxt = random.Next(0, held.Length);
            int contiguous = 0;
            while (rcvNxt + contiguous < held.Length && held[rcvNxt + contiguous]) contiguous++;
            Assert.Equal(contiguous, queue.TakeAt(start + rcvNxt));
            Assert.All(queue.Ranges, range => Assert.True(range.Start > start + rcvNxt + contiguous));
        }
    }

    [Fact]
    public void A_window_arriving_in_reverse_order_costs_a_constant_per_segment_and_allocates_nothing()
    {
        var queue = new ReassemblyQueue();
        var ring = new PooledByteQueue(new BufferPool(), 256 * 1024);
        byte[] segment = new byte[Segment];
        const int segments = 180; // a 256 KiB window whose first segment is lost, the rest arriving last to first
        var rcvNxt = new SeqNumber(1000);
        HoldInReverse(queue, ring, rcvNxt, segment, segments); // warm-up (JIT)

        long stepsBefore = 0;
        long allocated = Allocations.Fewest(() =>
        {
            queue.Clear();
            ring.ForgetAhead();
            stepsBefore = queue.Steps;
            HoldInReverse(queue, ring, rcvNxt, segment, segments);
        });

        Assert.Equal(0, allocated);
        Assert.Equal([(rcvNxt + Segment, rcvNxt + (segments + 1) * Segment)], queue.Ranges.ToList());
        // Each segment merges with the one range there is: a binary search over one entry and one comparison.
        Assert.True(queue.Steps - stepsBefore <= 3 * segments, $"{queue.Steps - stepsBefore} steps for {segments} segments");
    }

    [Fact]
    public void Many_holes_cost_at_most_one_pass_over_the_ranges_per_segment_and_allocate_nothing()
    {
        var queue = new ReassemblyQueue();
        var ring = new PooledByteQueue(new BufferPool(), 256 * 1024);
        byte[] segment = new byte[Segment];
        FillHoles(queue, ring, segment); // warm-up (JIT, and the arrays the first segment allocates)
        (long refusedBefore, long stepsBefore) = (0L, 0L);
        (int ranges, bool refused, bool allHeld, int delivered) = (0, false, false, 0);
        long allocated = Allocations.Fewest(() =>
        {
            queue.Clear();
            ring.Discard(ring.Count);
            (refusedBefore, stepsBefore) = (queue.Refused, queue.Steps);
            (ranges, refused, allHeld, delivered) = FillHoles(queue, ring, segment);
        });

        Assert.Equal(0, allocated);
        int segments = 2 * ReassemblyQueue.MaxRanges;
        Assert.Equal(ReassemblyQueue.MaxRanges, ranges); // every other segment of a window lost: MaxRanges ranges
        Assert.True(refused); // one more range does not fit: refused, not held
        Assert.Equal(1, queue.Refused - refusedBefore);
        Assert.True(allHeld);
        Assert.Equal((segments - 1) * Segment, delivered); // the holes filled from the back, then the first: one range
        Assert.True(queue.IsEmpty);
        long steps = queue.Steps - stepsBefore;
        Assert.True(steps <= 2L * segments * (ReassemblyQueue.MaxRanges + 8), $"{steps} steps for {segments} segments");
    }

    private static (int Ranges, bool Refused, bool AllHeld, int Delivered) FillHoles(ReassemblyQueue queue, PooledByteQueue ring, byte[] segment)
    {
        var rcvNxt = new SeqNumber(5000);
        int segments = 2 * ReassemblyQueue.MaxRanges;
        bool allHeld = true;
        for (int i = 1; i < segments; i += 2) allHeld &= Hold(queue, ring, rcvNxt, i, segment);
        int ranges = queue.RangeCount;
        bool refused = !Hold(queue, ring, rcvNxt, segments + 1, segment);
        for (int i = segments - 2; i >= 2; i -= 2) allHeld &= Hold(queue, ring, rcvNxt, i, segment);
        ring.Write(segment);
        int delivered = queue.TakeAt(rcvNxt + Segment);
        return (ranges, refused, allHeld, delivered);
    }

    // What the receiver does for a segment i segments past RCV.NXT: the bytes into the buffer, the range into the queue.
    private static bool Hold(ReassemblyQueue queue, PooledByteQueue ring, SeqNumber rcvNxt, int i, byte[] segment)
    {
        SeqNumber seq = rcvNxt + i * Segment;
        if (!ring.CanWriteAt(seq - rcvNxt, segment.Length) || !queue.Add(seq, seq + segment.Length)) return false;
        return ring.WriteAt(seq - rcvNxt, segment);
    }

    private static void HoldInReverse(ReassemblyQueue queue, PooledByteQueue ring, SeqNumber rcvNxt, byte[] segment, int segments)
    {
        for (int i = segments; i >= 1; i--) Assert.True(Hold(queue, ring, rcvNxt, i, segment));
    }
}
