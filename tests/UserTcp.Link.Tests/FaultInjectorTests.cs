using UserTcp.Testing;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class FaultInjectorTests
{
    private static readonly TimeSpan Delay = Ms(10);

    /// <summary>A link whose A side is wrapped by an injector; B is the plain receiver.</summary>
    private static (FaultInjector A, ILinkDevice B, List<FaultEvent> Events) Faulty(FaultOptions options, int seed = 1, params FaultRule[] rules)
    {
        var (a, b) = SimulatedLink.CreatePair(Delay);
        var injector = new FaultInjector(a, options, seed, rules);
        var events = new List<FaultEvent>();
        injector.OnFault = events.Add;
        return (injector, b, events);
    }

    /// <summary>Sends data segments with sequence numbers 0, 1, 2... one per millisecond, then runs the harness loop.</summary>
    private static List<(TimeSpan At, int Device, byte[] Packet)> SendAndRun(FaultInjector a, ILinkDevice b, int count)
    {
        for (int i = 0; i < count; i++) a.Transmit(Data((uint)i), Ms(i));
        return RunUntilQuiet(a, b);
    }

    private static uint[] Seqs(List<(TimeSpan At, int Device, byte[] Packet)> received) => received.Select(r => Seq(r.Packet)).ToArray();

    private static uint[] Upto(int count) => Enumerable.Range(0, count).Select(i => (uint)i).ToArray();

    [Fact]
    public void With_no_faults_every_packet_passes_unchanged_and_on_time()
    {
        var (a, b, events) = Faulty(FaultOptions.None);

        var received = SendAndRun(a, b, 50);

        Assert.Equal(Upto(50), Seqs(received));
        Assert.All(received, r => Assert.Equal(Ms(Seq(r.Packet)) + Delay, r.At));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => Data((uint)i)), received.Select(r => r.Packet));
        Assert.Empty(events);
        Assert.Equal((50, 50), (a.Counters.Transmitted, a.Counters.Forwarded));
    }

    [Fact]
    public void Drop_rate_one_loses_every_packet()
    {
        var (a, b, events) = Faulty(new FaultOptions { DropRate = 1 });

        Assert.Empty(SendAndRun(a, b, 20));
        Assert.Equal(20, a.Counters.DroppedAtRandom);
        Assert.Equal(0, a.Counters.Forwarded);
        Assert.All(events, e => Assert.Equal(FaultAction.Dropped, e.Action));
        Assert.Equal(20, events.Count);
    }

    [Fact]
    public void Drop_rate_zero_loses_nothing()
    {
        var (a, b, _) = Faulty(new FaultOptions { DropRate = 0 });

        Assert.Equal(Upto(20), Seqs(SendAndRun(a, b, 20)));
        Assert.Equal(0, a.Counters.DroppedAtRandom);
    }

    [Fact]
    public void A_drop_rate_between_loses_about_that_share()
    {
        var (a, b, _) = Faulty(new FaultOptions { DropRate = 0.25 }, seed: 7);

        int delivered = SendAndRun(a, b, 2000).Count;

        Assert.InRange(delivered, 1400, 1600);
        Assert.Equal(2000 - delivered, a.Counters.DroppedAtRandom);
    }

    [Fact]
    public void Duplicate_rate_one_delivers_each_packet_twice_in_a_row()
    {
        var (a, b, events) = Faulty(new FaultOptions { DuplicateRate = 1 });

        var received = SendAndRun(a, b, 10);

        Assert.Equal(Upto(10).SelectMany(seq => new[] { seq, seq }), Seqs(received));
        Assert.Equal((10, 20), (a.Counters.Duplicated, a.Counters.Forwarded));
        Assert.All(events, e => Assert.Equal(FaultAction.Duplicated, e.Action));
    }

    [Fact]
    public void Duplicate_rate_zero_delivers_each_packet_once()
    {
        var (a, b, _) = Faulty(new FaultOptions { DuplicateRate = 0 });

        Assert.Equal(Upto(10), Seqs(SendAndRun(a, b, 10)));
    }

    [Fact]
    public void Reorder_rate_one_swaps_each_packet_with_the_next()
    {
        var (a, b, events) = Faulty(new FaultOptions { ReorderRate = 1 });

        var received = SendAndRun(a, b, 6);

        // 0 is held, 1 goes and releases 0; 2 is held, 3 releases it...
        Assert.Equal(new uint[] { 1, 0, 3, 2, 5, 4 }, Seqs(received));
        Assert.Equal(3, a.Counters.HeldBack);
        // The held packet follows its releaser at once, so it is late by one inter-packet gap.
        Assert.Equal([Ms(1) + Delay, Ms(1) + Delay], received.Take(2).Select(r => r.At));
        Assert.All(events, e => Assert.Equal(FaultAction.HeldBack, e.Action));
    }

    [Fact]
    public void A_held_back_packet_with_nothing_after_it_goes_at_the_reorder_timeout()
    {
        var (a, b, _) = Faulty(new FaultOptions { ReorderRate = 1, ReorderTimeout = Ms(50) });

        a.Transmit(Data(1), Ms(5));

        Assert.Equal(Ms(55), a.NextRelease);
        Assert.Equal(Ms(55), a.NextArrival);
        var received = RunUntilQuiet(a, b);
        Assert.Equal((Ms(55) + Delay, 1, 1u), (received.Single().At, received.Single().Device, Seq(received.Single().Packet)));
        Assert.Null(a.NextRelease);
    }

    [Fact]
    public void Reorder_rate_zero_keeps_the_order()
    {
        var (a, b, _) = Faulty(new FaultOptions { ReorderRate = 0 });

        Assert.Equal(Upto(10), Seqs(SendAndRun(a, b, 10)));
    }

    [Fact]
    public void Jitter_delays_each_packet_by_at_most_the_jitter_and_the_harness_sees_it_through_next_arrival()
    {
        var (a, b, events) = Faulty(new FaultOptions { DelayJitter = Ms(20) }, seed: 3);

        var received = SendAndRun(a, b, 200);

        Assert.Equal(200, received.Count);
        Assert.All(received, r => Assert.InRange(r.At - Ms(Seq(r.Packet)) - Delay, TimeSpan.Zero, Ms(20)));
        // Packets 1 ms apart with up to 20 ms jitter overtake each other, as they do under netem.
        Assert.NotEqual(Upto(200), Seqs(received));
        Assert.Equal(a.Counters.Delayed, events.Count(e => e.Action == FaultAction.Delayed));
        Assert.InRange(a.Counters.Delayed, 190, 200);
    }

    [Fact]
    public void A_delayed_packet_is_handed_on_stamped_with_its_due_instant_even_when_flushed_late()
    {
        var (a, b, events) = Faulty(new FaultOptions { DelayJitter = Ms(5) }, seed: 11);
        a.Transmit(Data(1), TimeSpan.Zero);
        TimeSpan due = a.NextRelease ?? throw new InvalidOperationException("the packet should be held");
        Assert.InRange(due, Ms(0.001), Ms(5));

        a.Flush(Ms(500)); // the harness woke up much later than it should have

        Assert.Equal(due + Delay, b.NextArrival);
        Assert.Equal(FaultAction.Delayed, events.Single().Action);
    }

    [Fact]
    public void Jitter_zero_keeps_the_exact_link_delay()
    {
        var (a, b, _) = Faulty(new FaultOptions { DelayJitter = TimeSpan.Zero });

        Assert.All(SendAndRun(a, b, 20), r => Assert.Equal(Ms(Seq(r.Packet)) + Delay, r.At));
    }

    [Fact]
    public void Corrupt_rate_one_makes_every_packet_fail_to_parse_with_a_checksum_error()
    {
        var (a, b, events) = Faulty(new FaultOptions { CorruptRate = 1 }, seed: 5);
        byte[][] sent = Enumerable.Range(0, 300).Select(i => Data((uint)i, payloadLength: 20)).ToArray();
        for (int i = 0; i < sent.Length; i++) a.Transmit(sent[i], Ms(i));

        var received = RunUntilQuiet(a, b);

        Assert.Equal(300, received.Count);
        for (int i = 0; i < sent.Length; i++)
        {
            byte[] packet = received[i].Packet;
            int[] changed = Enumerable.Range(0, packet.Length).Where(k => packet[k] != sent[i][k]).ToArray();
            int offset = Assert.Single(changed);
            WireError error = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
            if (error == WireError.None) error = TcpSegment.TryParse(ip, out _);
            // Version/IHL, Total Length and TCP Data Offset are checked before the checksums; every other byte is caught by one.
            WireError[] expected = offset switch
            {
                0 => [WireError.BadVersion, WireError.BadIhl, WireError.BadHeaderChecksum, WireError.Truncated],
                2 or 3 => [WireError.Truncated, WireError.BadTotalLength, WireError.BadHeaderChecksum],
                20 + 12 => [WireError.BadDataOffset, WireError.BadTcpChecksum],
                _ => [WireError.BadHeaderChecksum, WireError.BadTcpChecksum],
            };
            Assert.Contains(error, expected);
        }
        Assert.Equal(300, a.Counters.Corrupted);
        Assert.All(events, e => Assert.Matches(@"^corrupted byte \d+ \(0x[0-9a-f]{2} -> 0x[0-9a-f]{2}\)$", e.Detail));
    }

    [Fact]
    public void Corrupt_rate_zero_leaves_every_packet_valid()
    {
        var (a, b, _) = Faulty(new FaultOptions { CorruptRate = 0 });

        var received = SendAndRun(a, b, 20);

        Assert.All(received, r =>
        {
            Assert.Equal(WireError.None, Ipv4Packet.TryParse(r.Packet, out Ipv4Packet ip));
            Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out _));
        });
    }

    [Fact]
    public void The_same_seed_gives_the_same_fates_and_another_seed_different_ones()
    {
        var options = new FaultOptions
        {
            DropRate = 0.1, DuplicateRate = 0.1, ReorderRate = 0.1, DelayJitter = Ms(3), CorruptRate = 0.1,
        };
        (string[] Events, byte[][] Received) Run(int seed)
        {
            var (a, b, events) = Faulty(options, seed);
            var received = SendAndRun(a, b, 500);
            return (events.Select(e => e.ToString()).ToArray(), received.Select(r => r.Packet).ToArray());
        }

        var first = Run(seed: 42);
        var again = Run(seed: 42);
        var other = Run(seed: 43);

        Assert.Equal(first.Events, again.Events);
        Assert.Equal(first.Received, again.Received);
        Assert.NotEqual(first.Events, other.Events);
        foreach (FaultAction action in Enum.GetValues<FaultAction>())
        {
            Assert.Contains(first.Events, e => e.Contains(action switch
            {
                FaultAction.Dropped => "dropped at random",
                FaultAction.Duplicated => "duplicated",
                FaultAction.HeldBack => "held back",
                FaultAction.Delayed => "delayed by",
                _ => "corrupted byte",
            }, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Rates_outside_zero_to_one_are_refused()
    {
        var (a, _) = SimulatedLink.CreatePair(Delay);

        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(a, new FaultOptions { DropRate = 1.5 }, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(a, new FaultOptions { CorruptRate = double.NaN }, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultInjector(a, new FaultOptions { DelayJitter = Ms(-1) }, 1));
    }

    [Fact]
    public void Wrapping_both_sides_faults_both_directions()
    {
        var link = SimulatedLink.CreatePair(Delay);
        var a = new FaultInjector(link.A, new FaultOptions { DropRate = 1 }, 1);
        var b = new FaultInjector(link.B, new FaultOptions { DuplicateRate = 1 }, 2);

        a.Transmit(Data(1), TimeSpan.Zero);
        b.Transmit(Data(2), TimeSpan.Zero);
        var received = RunUntilQuiet(a, b);

        Assert.Equal(new[] { (0, 2u), (0, 2u) }, received.Select(r => (r.Device, Seq(r.Packet))));
    }

    [Fact]
    public void Steady_traffic_through_an_injector_allocates_nothing_per_packet_while_nobody_listens()
    {
        var (link, peer) = SimulatedLink.CreatePair(Delay);
        var a = new FaultInjector(link, new FaultOptions { DropRate = 0.1, DuplicateRate = 0.1, ReorderRate = 0.1, DelayJitter = Ms(2), CorruptRate = 0.1 },
            seed: 1, FaultRule.DropNth(TcpFlags.Fin), FaultRule.DropMatching(s => s.Window == 0, "drop zero windows"));
        byte[] packet = Data(1, payloadLength: 1000);
        byte[] buffer = new byte[1500];
        TimeSpan now = TimeSpan.Zero;
        long Run(int rounds)
        {
            long received = 0;
            for (int i = 0; i < rounds; i++)
            {
                now += Ms(1);
                for (int k = 0; k < 16; k++) a.Transmit(packet, now);
                while (peer.TryReceive(buffer, now, out _)) received++;
                a.Flush(now);
                _ = a.NextArrival;
            }
            return received;
        }

        Run(500);
        long total = 0;
        long allocated = Allocations.Fewest(() => total = Run(2000));

        Assert.Equal(0, allocated);
        Assert.InRange(total, 2000 * 16 * 8 / 10, 2000 * 16 * 12 / 10);
    }
}
