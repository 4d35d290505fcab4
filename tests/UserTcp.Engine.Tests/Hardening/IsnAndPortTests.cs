using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>RFC 6528 initial sequence numbers and RFC 6056 ephemeral ports: keyed, so nobody off the path can guess them.</summary>
public class IsnAndPortTests
{
    private static readonly Ipv4Address Local = new(10, 77, 0, 2);
    private static readonly IpEndpoint Server = new(new Ipv4Address(10, 77, 0, 1), 80);

    [Fact]
    public void SipHash_matches_the_reference_vectors()
    {
        // The SipHash paper's Appendix A and the reference implementation's vectors.h: key 00..0f.
        SipKey key = SipKey.Read([.. Enumerable.Range(0, 16).Select(i => (byte)i)]);
        Assert.Equal(0x726fdb47dd0e0e31UL, SipHash.Hash(key, []));
        Assert.Equal(0xa129ca6149be45e5UL, SipHash.Hash(key, [.. Enumerable.Range(0, 15).Select(i => (byte)i)]));
        Assert.Equal(0x93f5f5799a932462UL, SipHash.Hash(key, [.. Enumerable.Range(0, 8).Select(i => (byte)i)]));
    }

    [Fact]
    public void Two_stacks_give_the_same_four_tuple_different_isns()
    {
        // Two engines at the same instant, the same local port to the same server: two runs of `usertcp get`.
        uint first = SynOf(new TcpEngine(Local), TimeSpan.Zero, localPort: 40000).Seq;
        uint second = SynOf(new TcpEngine(Local), TimeSpan.Zero, localPort: 40000).Seq;
        uint third = SynOf(new TcpEngine(Local), TimeSpan.Zero, localPort: 40000).Seq;
        Assert.True(first != second && second != third && first != third, $"ISNs {first}, {second}, {third}");
    }

    [Fact]
    public void A_fixed_seed_repeats_isns_and_ports_only_when_asked_for()
    {
        var seeded = new TcpConfig { RandomSeed = 42 };
        var a = SynOf(new TcpEngine(Local, seeded), TimeSpan.FromSeconds(1));
        var b = SynOf(new TcpEngine(Local, seeded), TimeSpan.FromSeconds(1));
        Assert.Equal((a.SourcePort, a.Seq), (b.SourcePort, b.Seq));
        var c = SynOf(new TcpEngine(Local), TimeSpan.FromSeconds(1));
        var d = SynOf(new TcpEngine(Local), TimeSpan.FromSeconds(1));
        Assert.NotEqual((c.SourcePort, c.Seq), (d.SourcePort, d.Seq));
    }

    [Fact]
    public void The_isn_of_one_four_tuple_moves_with_a_4_microsecond_clock()
    {
        // RFC 6528 §3: ISN = M + F(4-tuple, secret), M ticking every 4 µs; a later incarnation starts beyond an earlier one.
        var engine = new TcpEngine(Local);
        uint at0 = SynOf(engine, TimeSpan.Zero, localPort: 40000).Seq;
        uint at1 = SynOf(engine, TimeSpan.FromSeconds(1), localPort: 40000).Seq;
        Assert.Equal(250_000u, unchecked(at1 - at0));
    }

    [Fact]
    public void Consecutive_connections_show_no_linear_relation_in_isn()
    {
        const int Count = 4000;
        var engine = new TcpEngine(Local);
        var catcher = new SegmentCatcher();
        var isns = new List<double>();
        for (int i = 0; i < Count; i++)
        {
            // One connection every 10 ms, each on the next ephemeral port to the same server.
            TimeSpan now = TimeSpan.FromMilliseconds(10 * i);
            TcpConnection c = engine.Connect(Server);
            engine.Poll(now, catcher);
            isns.Add(catcher.Segments[^1].Seq);
            c.Close();
        }
        // Independent values give |r| about 1/sqrt(4000) = 0.016; 0.1 is six standard deviations away.
        Assert.InRange(Statistics.LinearDependence(isns), 0, 0.1);
        Assert.Equal(Count, isns.Distinct().Count());
    }

    [Fact]
    public void Consecutive_connections_to_different_destinations_show_no_linear_relation_in_port()
    {
        const int Count = 4000;
        var engine = new TcpEngine(Local);
        var catcher = new SegmentCatcher();
        var ports = new List<double>();
        for (int i = 0; i < Count; i++)
        {
            // A crawler's pattern: each connection to another server port, all kept open.
            engine.Connect(new IpEndpoint(Server.Address, (ushort)(1000 + i)));
            engine.Poll(TimeSpan.FromMilliseconds(i), catcher);
            ports.Add(catcher.Segments[^1].SourcePort);
        }
        Assert.InRange(Statistics.LinearDependence(ports), 0, 0.1);
        Assert.All(ports, p => Assert.InRange(p, 32768, 60999));
    }

    [Fact]
    public void Ports_to_one_destination_advance_by_unpredictable_steps_from_a_start_that_differs_per_stack()
    {
        // RFC 6056 Algorithm 4 walks one destination's ports in order (few collisions with its own TIME-WAITs); Linux's
        // random extra steps keep the next one from being known exactly.
        var engine = new TcpEngine(Local);
        var catcher = new SegmentCatcher();
        var ports = new List<int>();
        for (int i = 0; i < 200; i++)
        {
            engine.Connect(Server);
            engine.Poll(TimeSpan.FromMilliseconds(i), catcher);
            ports.Add(catcher.Segments[^1].SourcePort);
        }
        int[] steps = [.. ports.Zip(ports.Skip(1), (a, b) => (b - a + 28232) % 28232)];
        Assert.All(steps, s => Assert.InRange(s, 1, 8));
        Assert.True(steps.Distinct().Count() >= 6, $"steps {string.Join(",", steps)}");
        Assert.True(steps.Count(s => s == 1) < steps.Length / 3, "the next port is mostly the previous one plus one");

        var starts = Enumerable.Range(0, 8).Select(_ => SynOf(new TcpEngine(Local), TimeSpan.Zero).SourcePort).ToList();
        Assert.True(starts.Distinct().Count() >= 7, $"first ports of eight stacks: {string.Join(",", starts)}");
    }

    [Fact]
    public void Every_port_of_the_range_is_found_before_connect_gives_up()
    {
        var engine = new TcpEngine(Local, new TcpConfig { EphemeralPortFirst = 50000, EphemeralPortLast = 50009 });
        var catcher = new SegmentCatcher();
        for (int i = 0; i < 10; i++) engine.Connect(Server);
        engine.Poll(TimeSpan.Zero, catcher);
        Assert.Equal(Enumerable.Range(50000, 10), catcher.Segments.Select(s => (int)s.SourcePort).Order());
        TcpException e = Assert.Throws<TcpException>(() => engine.Connect(Server));
        Assert.Equal(TcpError.AddressInUse, e.Error);
    }

    private static (ushort SourcePort, uint Seq) SynOf(TcpEngine engine, TimeSpan now, ushort localPort = 0)
    {
        var catcher = new SegmentCatcher();
        engine.Poll(now, catcher);
        TcpConnection c = engine.Connect(Server, localPort);
        engine.Poll(now, catcher);
        c.Close(); // SYN-SENT: the TCB is deleted, so the 4-tuple may be used again
        engine.Poll(now, catcher);
        var syn = catcher.Segments.Single(s => s.Flags == TcpFlags.Syn);
        return (syn.SourcePort, syn.Seq);
    }
}
