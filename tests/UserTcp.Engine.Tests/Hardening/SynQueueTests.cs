using UserTcp.Wire;
using Xunit.Abstractions;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>What a half-open connection costs, and how long a peer can keep one.</summary>
public class SynQueueTests
{
    private static readonly TcpOptions LinuxSyn = new() { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0), WindowScale = 7 };

    /// <summary>A listener with a SYN queue of one (backlog 0, as Linux), already holding a half-open connection from port 50000.</summary>
    private static (Harness H, TcpPassiveOpen L) FullSynQueue(TcpConfig? config = null)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, backlog: 0);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 50000);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        return (h, listener);
    }

    [Fact]
    public void Once_the_syn_queue_is_full_a_syn_gets_a_cookie_and_the_returned_ack_makes_the_connection()
    {
        (Harness h, TcpPassiveOpen listener) = FullSynQueue();
        h.Advance(TimeSpan.FromSeconds(30));
        h.DrainSent(); // the half-open connection's SYN-ACK retransmissions
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 50001);
        Sent synAck = h.Next();
        h.ExpectNothing();
        Assert.Equal((TcpFlags.Syn | TcpFlags.Ack, PeerIsn + 1, (ushort)50001), (synAck.Flags, synAck.Ack, synAck.DestinationPort));
        // Linux's SYN-ACK, options and all; no record kept.
        Assert.Equal((ushort)1460, synAck.Options.MaxSegmentSize);
        Assert.True(synAck.Options.SackPermitted);
        Assert.Equal((byte)7, synAck.Options.WindowScale); // covers auto-tuning's 6 MiB, as Linux's
        Assert.Equal(1000u, synAck.Options.Timestamp!.Value.EchoReply);
        Assert.Single(h.Engine.Connections);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
        Assert.Single(h.Log.Of(TcpEventKind.Warning), e => e.Cause == TcpCause.SynFlood);

        // The ACK returns the cookie, with the first data: ESTABLISHED at once, with the options the cookie kept.
        h.Advance(TimeSpan.FromMilliseconds(10));
        uint tsVal = synAck.Options.Timestamp!.Value.Value;
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, synAck.Seq + 1, window: 502, payload: TestData.Bytes(100),
            options: new TcpOptions { Timestamp = new TcpTimestamp(1010, tsVal) }, sourcePort: 50001);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal((TcpState.Established, 50001), (c.State, (int)c.RemoteEndpoint.Port));
        Assert.Equal(synAck.Seq, c.Iss.Value);
        Assert.True(c.SackEnabled && c.TimestampsEnabled && c.WindowScalingEnabled);
        Assert.Equal((7, 7), c.WindowScale);
        Assert.Equal(1460 - 12, c.SendMss);
        Assert.Equal(TestData.Bytes(100), TestData.ReadAll(c).Data);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesRecv]);
        h.Expect(TcpFlags.Ack, synAck.Seq + 1, PeerIsn + 101); // the data's ACK (quick ACKs at the start, as Linux)
        h.ExpectNothing();
        // Our TSvals go on from the cookie's clock, never backwards.
        c.Send(TestData.Bytes(10));
        h.Poll();
        Sent data = h.Next();
        h.ExpectNothing();
        Assert.Equal(c.Iss.Value + 1, data.Seq);
        Assert.InRange(unchecked((int)(data.Options.Timestamp!.Value.Value - tsVal)), 10, 10 + 63);
    }

    [Fact]
    public void Without_timestamps_a_cookie_keeps_only_the_mss_rounded_down_to_linuxs_table()
    {
        (Harness h, TcpPassiveOpen listener) = FullSynQueue();
        var noTimestamps = new TcpOptions { MaxSegmentSize = 1400, SackPermitted = true, WindowScale = 7 };
        h.Send(TcpFlags.Syn, 5000, options: noTimestamps, sourcePort: 50001);
        Sent synAck = h.Next();
        // Nowhere to keep window scale and SACK: the SYN-ACK does not offer them.
        Assert.Null(synAck.Options.WindowScale);
        Assert.False(synAck.Options.SackPermitted);
        Assert.Null(synAck.Options.Timestamp);
        h.Send(TcpFlags.Ack, 5001, synAck.Seq + 1, window: 1000, sourcePort: 50001);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(1300, c.SendMss);
        Assert.False(c.SackEnabled || c.TimestampsEnabled || c.WindowScalingEnabled);
        Assert.Equal(1000u, c.SndWnd);
    }

    [Fact]
    public void A_forged_or_stale_cookie_gets_a_reset_and_makes_nothing()
    {
        (Harness h, TcpPassiveOpen listener) = FullSynQueue();
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 50001);
        Sent synAck = h.Next();
        // A guess: the right 4-tuple and sequence number, the wrong cookie.
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 2, window: 502, options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) }, sourcePort: 50001);
        h.Expect(TcpFlags.Rst, synAck.Seq + 2);
        // The right cookie from another port (another 4-tuple).
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) }, sourcePort: 50002);
        h.Expect(TcpFlags.Rst, synAck.Seq + 1);
        // The right cookie, two minutes later: expired (Linux's MAX_SYNCOOKIE_AGE).
        h.Advance(TimeSpan.FromMinutes(2));
        h.DrainSent();
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) }, sourcePort: 50001);
        h.Expect(TcpFlags.Rst, synAck.Seq + 1);
        h.ExpectNothing();
        Assert.Equal(3, h.Engine.Counters[MibCounter.TcpExtSyncookiesFailed]);
        Assert.Equal(3, h.Engine.Counters.Dropped(TcpCause.BadSynCookie));
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Single(h.Engine.Connections);
    }

    [Fact]
    public void A_valid_cookie_made_a_minute_ago_still_opens()
    {
        (Harness h, TcpPassiveOpen listener) = FullSynQueue();
        h.Advance(TimeSpan.FromSeconds(59));
        h.DrainSent();
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 50001);
        Sent synAck = h.Next();
        h.Advance(TimeSpan.FromSeconds(60)); // 1 min 59 s: the next minute counter, still within the cookie's age
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) }, sourcePort: 50001);
        Assert.True(listener.TryAccept(out _));
    }

    [Fact]
    public void Repeated_syns_use_up_the_syn_ack_retries_so_restarting_the_timer_cannot_hold_the_entry()
    {
        var h = new Harness(new TcpConfig { SynAckRetries = 3 });
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        TcpConnection c = h.Engine.Connections.Single();
        Assert.Equal(TimeSpan.FromSeconds(1), c.TimerDeadline(TcpTimer.Retransmission));

        h.Advance(TimeSpan.FromMilliseconds(600));
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        // Restarted from the resend, as Linux's tcp_check_req (RepeatedSynTimerTests), and the first retry taken.
        Assert.Equal(TimeSpan.FromMilliseconds(1600), c.TimerDeadline(TcpTimer.Retransmission));
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn); // within 500 ms of the last answer: none
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPACKSkippedSynRecv]);

        h.AdvanceToNextDeadline(); // 1.6 s: the timeout, the second retry
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Advance(TimeSpan.FromMilliseconds(600));
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn); // the third and last retry
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Advance(TimeSpan.FromMilliseconds(600));
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn); // one too many: the entry goes
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void A_flood_of_spoofed_syns_holds_the_syn_queue_and_no_more_while_a_real_client_still_connects()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, backlog: 128);
        var random = new Random(4987);
        for (int i = 0; i < 100_000; i++)
        {
            var spoofed = new Ipv4Address(10, 77, (byte)(1 + random.Next(200)), (byte)(1 + random.Next(250)));
            h.Engine.Receive(PeerSyn((ushort)random.Next(1024, 65536), (uint)random.Next(), spoofed), h.Now, h);
            if (i % 1000 == 0) h.Advance(TimeSpan.FromMilliseconds(100));
            h.DrainSent();
        }
        Assert.Equal(129, listener.SynQueueLength); // one more than the backlog, as Linux's inet_csk_reqsk_queue_is_full
        Assert.InRange(h.Engine.Connections.Count, 1, 129);
        Assert.InRange(h.Engine.Counters[MibCounter.TcpExtSyncookiesSent], 99_000, 100_000);

        // A real client in the middle of it: its SYN gets a cookie, its ACK a connection.
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 40001);
        Sent synAck = h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) }, sourcePort: 40001);
        h.ExpectNothing();
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Single(h.Log.Of(TcpEventKind.Warning));
    }

    /// <summary>A SYN from the harness's peer address with Linux's options, from <paramref name="port"/>.</summary>
    internal static byte[] PeerSyn(ushort port, uint seq = PeerIsn, Ipv4Address? source = null)
    {
        var repr = new TcpRepr
        {
            SourcePort = port,
            DestinationPort = Harness.LocalPort,
            SequenceNumber = new SeqNumber(seq),
            Flags = TcpFlags.Syn,
            Window = 64240,
            Options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0), WindowScale = 7 },
        };
        byte[] packet = new byte[PacketWriter.Ipv4TcpLength(repr)];
        PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(source ?? Harness.PeerAddress, Harness.LocalAddress), repr, out _);
        return packet;
    }
}

/// <summary>
/// Measurements of retained memory (GC.GetTotalMemory is process-wide), run alone: tests running in parallel would
/// allocate into the window being measured.
/// </summary>
[CollectionDefinition(nameof(MemoryMeasurements), DisableParallelization = true)]
public sealed class MemoryMeasurements;

/// <summary>What a half-open connection costs.</summary>
[Collection(nameof(MemoryMeasurements))]
public class HalfOpenMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void A_half_open_connection_costs_a_small_record_and_no_buffers()
    {
        const int Count = 2000;
        // No event sink: what is measured is the engine's own record of each half-open connection.
        var engine = new TcpEngine(Harness.LocalAddress);
        var wire = new SegmentCatcher();
        engine.Listen(Harness.LocalPort, backlog: Count + 10);
        for (int i = 0; i < 10; i++) engine.Receive(SynQueueTests.PeerSyn((ushort)(20000 + i)), TimeSpan.Zero, wire); // warm up
        wire.Packets.Clear();
        wire.Segments.Clear();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        for (int i = 0; i < Count; i++) engine.Receive(SynQueueTests.PeerSyn((ushort)(30000 + i)), TimeSpan.Zero, wire);
        Assert.Equal(Count, wire.Segments.Count(s => s.Flags == (TcpFlags.Syn | TcpFlags.Ack)));
        wire.Packets.Clear();
        wire.Segments.Clear();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        long perConnection = (after - before) / Count;
        output.WriteLine($"{perConnection} bytes per half-open connection (buffers {engine.Config.ReceiveBufferSize} + {engine.Config.SendBufferSize} bytes, allocated on first use)");
        Assert.Equal(Count + 10, engine.Connections.Count(c => c.State == TcpState.SynReceived));
        Assert.InRange(perConnection, 1, 2048);
        GC.KeepAlive(engine);
    }
}
