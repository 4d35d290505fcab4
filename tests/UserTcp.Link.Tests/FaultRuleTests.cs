using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class FaultRuleTests
{
    private static readonly TcpFlags FinAck = TcpFlags.Fin | TcpFlags.Ack;

    private static (FaultInjector A, ILinkDevice B, List<FaultEvent> Events) Faulty(FaultOptions options, params FaultRule[] rules)
    {
        var (a, b) = SimulatedLink.CreatePair(TimeSpan.Zero);
        var injector = new FaultInjector(a, options, seed: 1, rules);
        var events = new List<FaultEvent>();
        injector.OnFault = events.Add;
        return (injector, b, events);
    }

    /// <summary>Transmits each packet at 1 ms intervals and returns the flags of what arrived.</summary>
    private static List<TcpSegmentInfo> Send(FaultInjector a, ILinkDevice b, params byte[][] packets)
    {
        for (int i = 0; i < packets.Length; i++) a.Transmit(packets[i], Ms(i));
        return RunUntilQuiet(a, b).Select(r => TcpSegmentInfo.TryRead(r.Packet, out TcpSegmentInfo info) ? info : default).ToList();
    }

    [Fact]
    public void Drop_the_first_fin_drops_only_the_first()
    {
        FaultRule rule = FaultRule.DropNth(TcpFlags.Fin);
        var (a, b, events) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b, Data(1), Tcp(FinAck, seq: 11), Tcp(FinAck, seq: 11), Tcp(TcpFlags.Ack, seq: 12));

        Assert.Equal(new[] { TcpFlags.Ack | TcpFlags.Psh, FinAck, TcpFlags.Ack }, received.Select(s => s.Flags));
        Assert.Equal("drop the first FIN", rule.Description);
        Assert.Equal(1, rule.Applied);
        Assert.Equal(1, a.Counters.DroppedByRule);
        FaultEvent dropped = Assert.Single(events);
        Assert.Same(rule, dropped.Rule);
        Assert.Equal(Ms(1), dropped.At);
        Assert.Equal(
            "0.001000 s dropped by rule 'drop the first FIN': IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [F.], seq 11, ack 0, win 64240, length 0",
            dropped.ToString());
    }

    [Fact]
    public void Drop_nth_counts_segments_carrying_all_the_flags()
    {
        FaultRule rule = FaultRule.DropNth(TcpFlags.Syn | TcpFlags.Ack, n: 2);
        var (a, b, _) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b,
            Tcp(TcpFlags.Syn, seq: 1), Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 2), Tcp(TcpFlags.Syn, seq: 3),
            Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 4), Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 5));

        Assert.Equal(new uint[] { 1, 2, 3, 5 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal("drop the second SYN+ACK", rule.Description);
    }

    [Theory]
    [InlineData(TcpFlags.Rst, 3, "drop the third RST")]
    [InlineData(TcpFlags.Ack, 4, "drop the 4th ACK")]
    [InlineData(TcpFlags.Ack, 21, "drop the 21st ACK")]
    [InlineData(TcpFlags.Ack, 112, "drop the 112th ACK")]
    [InlineData(TcpFlags.None, 1, "drop the first segment")]
    public void Drop_nth_describes_itself_in_words(TcpFlags flags, int n, string description) =>
        Assert.Equal(description, FaultRule.DropNth(flags, n).Description);

    [Fact]
    public void Again_drops_the_resendings_of_the_segment_it_dropped_and_counts_them_apart()
    {
        FaultRule rule = FaultRule.Parse("drop data nth=2 again=1");
        var (a, b, events) = Faulty(FaultOptions.None, rule);

        // Segments at 1, 11, 21; then 11 again (its retransmission, dropped too), 31, and 11 a third time (delivered).
        // The other connection's segment at 11 and the ACK at 11 are not resendings of it.
        var received = Send(a, b, Data(1), Data(11), Data(21), Data(11), Tcp(TcpFlags.Ack | TcpFlags.Psh, seq: 11, ack: 1, payloadLength: 10, sourcePort: 40001),
            Tcp(TcpFlags.Ack, seq: 11, ack: 1), Data(31), Data(11));

        Assert.Equal(new (uint, ushort, int)[] { (1, 40000, 10), (21, 40000, 10), (11, 40001, 10), (11, 40000, 0), (31, 40000, 10), (11, 40000, 10) },
            received.Select(s => (s.SequenceNumber.Value, s.SourcePort, s.PayloadLength)));
        Assert.Equal(2, rule.Applied);
        Assert.Equal([Ms(1), Ms(3)], events.Select(e => e.At));
    }

    [Fact]
    public void Mtu_picks_only_the_packets_longer_than_it()
    {
        FaultRule rule = FaultRule.Parse("drop mtu=100");
        var (a, b, _) = Faulty(FaultOptions.None, rule);

        // 40 bytes of headers: 60 bytes of data make a 100-byte packet, which a 100-byte MTU carries; 61 do not.
        var received = Send(a, b, Data(1, payloadLength: 60), Data(61, payloadLength: 61), Tcp(TcpFlags.Ack, seq: 122), Data(122, payloadLength: 1000));

        Assert.Equal(new uint[] { 1, 122 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal(2, rule.Applied);
    }

    [Fact]
    public void Without_again_a_resending_is_a_new_packet_to_count()
    {
        FaultRule rule = FaultRule.Parse("drop data nth=2");
        var (a, b, _) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b, Data(1), Data(11), Data(11), Data(21));

        Assert.Equal(new uint[] { 1, 11, 21 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal(1, rule.Applied);
    }

    [Fact]
    public void Drop_all_after_lets_the_fin_through_and_drops_everything_after_it()
    {
        FaultRule rule = FaultRule.DropAllAfter(TcpFlags.Fin);
        var (a, b, events) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b, Data(1), Tcp(FinAck, seq: 11), Tcp(TcpFlags.Ack, seq: 12), Tcp(FinAck, seq: 11), [0x45, 0, 0]);

        Assert.Equal(new[] { TcpFlags.Ack | TcpFlags.Psh, FinAck }, received.Select(s => s.Flags));
        Assert.Equal(3, rule.Applied);
        Assert.Equal("drop everything sent after the first FIN", rule.Description);
        Assert.All(events, e => Assert.StartsWith("dropped by rule 'drop everything sent after the first FIN'", e.Detail, StringComparison.Ordinal));
    }

    [Fact]
    public void Blackhole_drops_everything_sent_in_its_window_and_nothing_else()
    {
        FaultRule rule = FaultRule.Blackhole(Ms(2), Ms(4));
        var (a, b, _) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b, Data(0), Data(1), Data(2), Data(3), Data(4), Data(5));

        Assert.Equal(new uint[] { 0, 1, 4, 5 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal("drop everything sent from 0.002 s until 0.004 s", rule.Description);
        Assert.Equal(2, rule.Applied);
    }

    [Fact]
    public void Drop_matching_drops_what_the_predicate_picks()
    {
        FaultRule rule = FaultRule.DropMatching(s => s.PayloadLength > 0 && s.SequenceNumber.Value % 2 == 1, "drop odd data segments");
        var (a, b, events) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b, Data(1), Data(2), Data(3), Tcp(TcpFlags.Ack, seq: 5), Data(6));

        Assert.Equal(new uint[] { 2, 5, 6 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal(2, rule.Applied);
        Assert.All(events, e => Assert.Equal("dropped by rule 'drop odd data segments'", e.Detail));
    }

    [Fact]
    public void Rules_come_before_random_faults_and_the_first_matching_rule_is_credited()
    {
        FaultRule first = FaultRule.DropNth(TcpFlags.Fin);
        FaultRule all = FaultRule.DropMatching(_ => true, "drop every segment");
        var (a, b, events) = Faulty(new FaultOptions { DuplicateRate = 1 }, first, all);

        Assert.Empty(Send(a, b, Tcp(FinAck, seq: 1), Tcp(FinAck, seq: 1)));

        Assert.Equal((1, 1), (first.Applied, all.Applied));
        Assert.Equal(0, a.Counters.Duplicated);
        Assert.Equal(new[] { first, all }, events.Select(e => e.Rule));
    }

    [Fact]
    public void Every_rule_counts_every_packet_even_ones_an_earlier_rule_dropped()
    {
        FaultRule blackhole = FaultRule.Blackhole(TimeSpan.Zero, Ms(1));
        FaultRule secondFin = FaultRule.DropNth(TcpFlags.Fin, n: 2);
        var (a, b, _) = Faulty(FaultOptions.None, blackhole, secondFin);

        // The first FIN falls into the blackhole, yet it is still the first FIN: the second one is dropped too.
        var received = Send(a, b, Tcp(FinAck, seq: 1), Tcp(FinAck, seq: 1), Tcp(FinAck, seq: 1));

        Assert.Single(received);
        Assert.Equal((1, 1), (blackhole.Applied, secondFin.Applied));
    }

    [Fact]
    public void Malformed_and_non_tcp_packets_match_no_tcp_rule_and_never_throw()
    {
        FaultRule[] rules =
        [
            FaultRule.DropNth(TcpFlags.None), FaultRule.DropAllAfter(TcpFlags.None),
            FaultRule.DropMatching(_ => true, "drop every segment"),
        ];
        var (a, b, _) = Faulty(FaultOptions.None, rules);
        byte[] udp = Tcp(TcpFlags.Syn);
        udp[9] = 17; // protocol UDP; the header checksum is wrong now too, which rules ignore
        var random = new Random(9);
        byte[][] garbage = Enumerable.Range(0, 200).Select(i =>
        {
            byte[] bytes = new byte[random.Next(0, 80)];
            random.NextBytes(bytes);
            return bytes;
        }).Append([]).Append(udp).ToArray();

        for (int i = 0; i < garbage.Length; i++) a.Transmit(garbage[i], Ms(i));

        Assert.Equal(garbage.Length, Drain(b, Ms(1000)).Count);
        Assert.All(rules, rule => Assert.Equal(0, rule.Applied));
    }

    [Fact]
    public void Segment_info_reads_the_fields_a_rule_looks_at()
    {
        Assert.True(TcpSegmentInfo.TryRead(Tcp(TcpFlags.Syn | TcpFlags.Fin, seq: 7, ack: 9, payloadLength: 3, sourcePort: 1, destinationPort: 2), out TcpSegmentInfo info));

        Assert.Equal(new TcpSegmentInfo(Client, Server, 1, 2, new SeqNumber(7), new SeqNumber(9), TcpFlags.Syn | TcpFlags.Fin, 64240, 3), info);
        Assert.Equal(5, info.SegmentLength);
        Assert.True(info.Has(TcpFlags.Fin));
        Assert.False(TcpSegmentInfo.TryRead([0x45], out _));
    }

    [Fact]
    public void Reopens_picks_each_ends_first_nonzero_window_after_a_zero_one_and_nothing_else()
    {
        FaultRule rule = FaultRule.Parse("drop reopens");
        var (a, b, _) = Faulty(FaultOptions.None, rule);

        var received = Send(a, b,
            Tcp(TcpFlags.Ack, seq: 1, window: 500), // open, and never zero before: no update
            Tcp(TcpFlags.Syn, seq: 2, window: 0), // a SYN's window is no zero window
            Tcp(TcpFlags.Ack, seq: 3, window: 300), // so this is no update
            Tcp(TcpFlags.Ack, seq: 4, window: 0),
            Tcp(TcpFlags.Ack, seq: 5, window: 0), // still zero: no update
            Tcp(TcpFlags.Ack, seq: 6, window: 0, sourcePort: 40001), // another connection's zero window
            Tcp(TcpFlags.Ack | TcpFlags.Psh, seq: 7, payloadLength: 10, window: 1000), // the update (carrying data): dropped
            Tcp(TcpFlags.Ack, seq: 8, window: 2000), // a further opening: not the update
            Tcp(TcpFlags.Ack, seq: 9, window: 10, sourcePort: 40001), // the other connection's update: dropped
            Tcp(TcpFlags.Ack, seq: 10, window: 0), // shut again
            Tcp(TcpFlags.Ack, seq: 11, window: 0, sourcePort: 40002),
            Tcp(TcpFlags.Rst | TcpFlags.Ack, seq: 12, window: 0), // a RST ends that wait and is no zero window itself
            Tcp(TcpFlags.Ack, seq: 13, window: 500), // so no update follows on this connection
            Tcp(TcpFlags.Rst, seq: 14, sourcePort: 80, destinationPort: 40002, fromServer: true, window: 0), // the peer's RST ends the third's
            Tcp(TcpFlags.Ack, seq: 15, window: 500, sourcePort: 40002));

        Assert.Equal(new uint[] { 1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal(2, rule.Applied);
        Assert.Equal("drop reopens", rule.Description);
    }

    [Fact]
    public void Reopens_with_nth_1_drops_the_first_window_update_only_and_every_zero_window_still_counts()
    {
        FaultRule update = FaultRule.Parse("drop reopens nth=1");
        FaultRule zeros = FaultRule.Parse("duplicate window=0");
        var (a, b, _) = Faulty(FaultOptions.None, update, zeros);

        var received = Send(a, b,
            Tcp(TcpFlags.Ack, seq: 1, window: 0), Tcp(TcpFlags.Ack, seq: 2, window: 900), // first episode: the update dropped
            Tcp(TcpFlags.Ack, seq: 3, window: 0), Tcp(TcpFlags.Ack, seq: 4, window: 900), // second episode: its update passes
            Tcp(TcpFlags.Rst, seq: 5, window: 0), Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 6, window: 0)); // never zero windows

        Assert.Equal(new uint[] { 1, 1, 3, 3, 4, 5, 6 }, received.Select(s => s.SequenceNumber.Value));
        Assert.Equal((1, 2), (update.Applied, zeros.Applied));
    }

    [Fact]
    public void Nonsense_rules_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => FaultRule.DropNth(TcpFlags.Fin, n: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FaultRule.Blackhole(Ms(2), Ms(1)));
        Assert.Throws<ArgumentException>(() => FaultRule.DropMatching(_ => true, " "));
    }
}
