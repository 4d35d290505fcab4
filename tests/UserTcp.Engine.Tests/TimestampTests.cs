using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>RFC 7323 timestamps: negotiation, RTT from TSecr, TS.Recent, PAWS; RFC 6191 TIME-WAIT reuse.</summary>
public class TimestampTests
{
    private static TcpTimestamp Ts(Sent s) => s.Options.Timestamp ?? throw new Xunit.Sdk.XunitException($"{s} carries no timestamp");

    [Fact]
    public void Syn_ack_echoes_the_peers_tsval_and_every_later_segment_carries_ours()
    {
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.AdvanceTo(Ms(7));
        h.Send(TcpFlags.Syn, PeerIsn, options: SynOptions());
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        // Linux's layout: MSS, SACK-permitted fused with timestamps, NOP + window scale.
        Assert.Equal(new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(7, PeerTsStart), WindowScale = 7 }, synAck.Options);

        h.AdvanceTo(Ms(50));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow, options: Options(h, 7));
        TcpConnection c = Assert.Single(h.Engine.Connections);
        Assert.True(c.TimestampsEnabled && c.SackEnabled && c.WindowScalingEnabled);
        Assert.Equal(Mss, c.SendMss); // 1460 less the 12 bytes timestamps take in every segment
        c.Send(Bytes(10));
        h.Poll();
        Assert.Equal(new TcpTimestamp(50, PeerTsStart + 50), Ts(h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 10)));
    }

    [Fact]
    public void Options_the_peer_did_not_offer_are_not_used_and_the_syn_ack_does_not_offer_them()
    {
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true });
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true }, synAck.Options);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 65535);
        TcpConnection c = Assert.Single(h.Engine.Connections);
        Assert.False(c.TimestampsEnabled || c.WindowScalingEnabled);
        Assert.True(c.SackEnabled);
        Assert.Equal(1460, c.SendMss);
    }

    [Theory]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)]
    [InlineData(true, true, false)]
    public void Each_option_can_be_turned_off_for_a_connection(bool sack, bool timestamps, bool windowScaling)
    {
        var h = new Harness();
        var config = h.Config with { Sack = sack, Timestamps = timestamps, WindowScaling = windowScaling };
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort, config);
        h.Poll();
        var offered = new TcpOptions
        {
            MaxSegmentSize = 1460,
            SackPermitted = sack,
            Timestamp = timestamps ? new TcpTimestamp(0, 0) : null,
            WindowScale = windowScaling ? (byte)7 : null,
        };
        Assert.Equal(offered, h.Expect(TcpFlags.Syn, Isn).Options);
        // The peer offers everything; only what both offered is used.
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, window: 65535, options: SynOptions());
        Assert.Equal((sack, timestamps, windowScaling), (c.SackEnabled, c.TimestampsEnabled, c.WindowScalingEnabled));
    }

    [Fact]
    public void Rtt_comes_from_tsecr_even_for_the_ack_of_a_retransmission_and_that_sample_ends_the_backoff()
    {
        // The SYN-ACK's echo: SRTT 100 ms, RTO 300 ms; no tail loss probe, which would go in the timeout's place.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TailLossProbe = false });
        Assert.Equal(Ms(100), c.SmoothedRtt);
        Assert.Equal(Ms(300), c.Rto);
        c.Send(Bytes(100));
        h.Poll();
        h.Next();
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        Sent again = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(400u, Ts(again).Value);
        Assert.Equal(Ms(600), c.Rto); // backed off

        // The ACK echoes the retransmission's TSval: an unambiguous 50 ms sample (Karn's rule does not apply, RFC 7323 §4.1).
        h.AdvanceTo(Ms(450));
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow, options: Options(h, 400));
        Assert.Equal(TimeSpan.FromMicroseconds(93_750), c.SmoothedRtt); // 7/8 × 100 + 1/8 × 50
        Assert.Equal(TimeSpan.FromMicroseconds(293_750), c.Rto);        // SRTT + 4 × RTTVAR (50): the backoff is over
    }

    [Fact]
    public void Without_timestamps_the_ack_of_a_retransmission_gives_no_sample_karn()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TailLossProbe = false }, timestamps: false);
        c.Send(Bytes(100));
        h.Poll();
        h.Next();
        h.AdvanceToNextDeadline();
        h.Next();
        h.AdvanceTo(Ms(450));
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow);
        Assert.Equal(Ms(100), c.SmoothedRtt);
        Assert.Equal(Ms(600), c.Rto);
    }

    [Fact]
    public void Every_ack_of_new_data_gives_a_sample()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 2); // at 100 ms, TSval 100
        h.AdvanceTo(Ms(180));
        h.Send(TcpFlags.Ack, Their(0), Our(Mss), window: PeerWindow, options: Options(h, 100));
        Assert.Equal(Ms(80), c.MinRtt);
        h.AdvanceTo(Ms(160 + 100));
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow, options: Options(h, 200)); // echoes a later TSval
        Assert.Equal(Ms(60), c.MinRtt);
    }

    [Fact]
    public void Ts_recent_takes_the_tsval_of_segments_at_or_before_the_last_ack_sent_not_of_those_beyond_it()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        h.AdvanceTo(Ms(200));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(100), options: Options(h, 100));
        Assert.Equal(PeerTsStart + 200, Ts(h.Expect(TcpFlags.Ack, Our(0), Their(100))).EchoReply); // quick-ACK, echoing it

        // A segment beyond RCV.NXT (so beyond Last.ACK.sent) does not move TS.Recent (RFC 7323 §4.3 (2)).
        h.AdvanceTo(Ms(210));
        h.Send(TcpFlags.Ack, Their(200), Our(0), window: PeerWindow, payload: Bytes(100), options: Options(h, 100));
        Assert.Equal(PeerTsStart + 200, Ts(h.Expect(TcpFlags.Ack, Our(0), Their(100))).EchoReply);

        // The segment that fills the hole starts at Last.ACK.sent: its TSval is taken.
        h.AdvanceTo(Ms(220));
        h.Send(TcpFlags.Ack, Their(100), Our(0), window: PeerWindow, payload: Bytes(100), options: Options(h, 100));
        Assert.Equal(PeerTsStart + 220, Ts(h.Expect(TcpFlags.Ack, Our(0), Their(300))).EchoReply);
        h.ExpectNothing();
    }

    [Fact]
    public void An_ack_of_data_never_sent_does_not_move_ts_recent()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        h.AdvanceTo(Ms(200));
        h.Send(TcpFlags.Ack, Their(0), Our(9999), window: PeerWindow, options: new TcpOptions { Timestamp = new TcpTimestamp(PeerTsStart + 900_000, 100) });
        Assert.Equal(PeerTsStart + 100, Ts(h.Expect(TcpFlags.Ack, Our(0), Their(0))).EchoReply);
        // So a segment with the peer's real clock is not taken for an old duplicate afterwards.
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(10), options: Options(h, 100));
        Assert.Equal(PeerTsStart + 200, Ts(h.Expect(TcpFlags.Ack, Our(0), Their(10))).EchoReply);
    }

    [Fact]
    public void Paws_drops_a_segment_with_an_old_tsval_and_answers_with_an_ack()
    {
        (Harness h, TcpConnection c) = Established(Ms(100)); // TS.Recent = the peer's TSval at 100 ms
        h.AdvanceTo(Ms(200));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: Bytes(100),
            options: new TcpOptions { Timestamp = new TcpTimestamp(PeerTsStart - 5000, 0) });
        Sent ack = h.Expect(TcpFlags.Ack, Our(0), Their(0));
        Assert.Equal(PeerTsStart + 100, Ts(ack).EchoReply);
        Assert.Equal(0, c.BytesToRead);
        Assert.Contains(h.Log.Events, e => e is { Kind: TcpEventKind.Dropped, Cause: TcpCause.PawsRejected });

        // The same data with a current TSval is taken.
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: Bytes(100), options: Options(h, 100));
        h.Expect(TcpFlags.Ack, Our(0), Their(100));
        Assert.Equal(100, c.BytesToRead);
    }

    [Fact]
    public void Paws_rejected_copy_of_data_already_received_is_reported_with_a_dsack_as_linux_tcp_send_dupack_does()
    {
        // Reordering: the original of a segment arrives after its retransmission, with a TSval older than TS.Recent. PAWS
        // drops it, and the ACK says it was a duplicate (Linux's tcp_validate_incoming -> tcp_send_dupack -> tcp_dsack_set),
        // so the sender learns its retransmission was needless (RFC 2883, RFC 3708) and can undo its window cut.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { DuplicateSack = true });
        h.AdvanceTo(Ms(200));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(100), options: Options(h, 100)); // the retransmission
        h.Expect(TcpFlags.Ack, Our(0), Their(100));
        h.AdvanceTo(Ms(250));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: Bytes(100),
            options: new TcpOptions { Timestamp = new TcpTimestamp(PeerTsStart + 150, 100) }); // the original, late
        Sent ack = h.Expect(TcpFlags.Ack, Our(0), Their(100));
        Assert.Contains(h.Log.Events, e => e is { Kind: TcpEventKind.Dropped, Cause: TcpCause.PawsRejected });
        Assert.Equal([new SackBlock(new SeqNumber(Their(0)), new SeqNumber(Their(100)))], ack.Options.SackBlocks.ToArray());
        Assert.Equal(100, c.BytesToRead);
        h.ExpectNothing();
    }

    [Fact]
    public void Paws_lets_a_reset_through_as_linux_does()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        h.Send(TcpFlags.Rst | TcpFlags.Ack, Their(0), Our(0), window: 0, options: new TcpOptions { Timestamp = new TcpTimestamp(1, 0) });
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.ConnectionReset, c.Error);
    }

    // ───────────── RFC 6191: a new SYN to a connection in TIME-WAIT ─────────────

    /// <summary>Our side closed first and is in TIME-WAIT (a compact record: its ACK of the peer's FIN is out); the listener is still there.</summary>
    internal static (Harness H, TcpConnection C) TimeWait(bool timestamps, TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps: timestamps);
        h.AdvanceTo(Ms(200));
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Our(0), Their(0));
        h.AdvanceTo(Ms(300));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, Their(0), Our(1), window: PeerWindow, options: timestamps ? Options(h, 200) : default);
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.TimeWait, c.State);
        return (h, c);
    }

    [Fact]
    public void A_syn_with_a_newer_timestamp_ends_time_wait_and_opens_a_new_connection()
    {
        (Harness h, TcpConnection old) = TimeWait(timestamps: true);
        h.AdvanceTo(S(1));
        // Same 4-tuple, a sequence number below RCV.NXT even: the timestamp decides (RFC 6191 §2).
        h.Send(TcpFlags.Syn, PeerIsn - 5000, options: SynOptions() with { Timestamp = new TcpTimestamp(PeerTs(h), 0) });
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, unchecked(Our(1) + 65535 + 2), PeerIsn - 5000 + 1);
        Assert.Equal(PeerTs(h), Ts(synAck).EchoReply);
        Assert.Equal(TcpState.Closed, old.State);
        TcpConnection fresh = Assert.Single(h.Engine.Connections);
        Assert.Equal(TcpState.SynReceived, fresh.State);
        TcpEvent[] reuse = [.. h.Log.Events.Where(e => e is { Kind: TcpEventKind.StateChanged, Cause: TcpCause.SynReusedTimeWait })];
        Assert.Equal(2, reuse.Length);
        // The old connection ends from TIME-WAIT; the new one leaves LISTEN, as a passive open does (RFC 9293 §3.3.2).
        Assert.Equal((TcpState.TimeWait, TcpState.TimeWait, TcpState.Closed), (reuse[0].OldState, reuse[0].DiagramOldState, reuse[0].NewState));
        Assert.Equal((TcpState.Closed, TcpState.Listen, TcpState.SynReceived), (reuse[1].OldState, reuse[1].DiagramOldState, reuse[1].NewState));
        Assert.Contains("LISTEN -> SYN-RECEIVED (SYN with a higher sequence number or timestamp reused TIME-WAIT", reuse[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_syn_with_an_older_timestamp_gets_a_challenge_ack_and_time_wait_goes_on()
    {
        (Harness h, TcpConnection old) = TimeWait(timestamps: true);
        h.AdvanceTo(S(1));
        h.Send(TcpFlags.Syn, Their(100_000), options: SynOptions() with { Timestamp = new TcpTimestamp(PeerTsStart, 0) });
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.TimeWait, old.State);
    }

    [Fact]
    public void A_syn_with_the_same_timestamp_reuses_time_wait_only_beyond_rcv_nxt()
    {
        (Harness h, TcpConnection old) = TimeWait(timestamps: true);
        // The peer reconnects within the millisecond of its last segment: its TSval equals TS.Recent (RFC 6191 §2).
        TcpOptions sameTs = SynOptions() with { Timestamp = new TcpTimestamp(PeerTs(h), 0) };
        h.Send(TcpFlags.Syn, Their(0), options: sameTs); // at RCV.NXT - 1: an old duplicate
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.TimeWait, old.State);
        h.ExpectNothing();

        h.Send(TcpFlags.Syn, Their(1000), options: sameTs);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, unchecked(Our(1) + 65535 + 2), Their(1001));
        Assert.Equal(TcpState.Closed, old.State);
        h.ExpectNothing();
    }

    [Fact]
    public void The_ack_that_ends_closing_sets_ts_recent_for_time_wait()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Our(0), Their(0));
        h.AdvanceTo(Ms(150));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, options: Options(h, 0)); // crosses ours
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.Closing, c.State);
        h.AdvanceTo(Ms(200));
        uint last = PeerTs(h);
        h.Send(TcpFlags.Ack, Their(1), Our(1), window: PeerWindow, options: Options(h, 100));
        Assert.Equal(TcpState.TimeWait, c.State);
        h.ExpectNothing();
        // RFC 7323 §4.3: its SEG.SEQ is at Last.ACK.sent, so its TSval is TS.Recent, which PAWS and RFC 6191 judge by.
        Assert.Equal(last, c.TimeWaitRecord!.TsRecent);
        h.Send(TcpFlags.Syn, Their(0), options: SynOptions() with { Timestamp = new TcpTimestamp(last, 0) });
        h.Expect(TcpFlags.Ack, Our(1), Their(1)); // not newer than the last segment seen, nor beyond RCV.NXT: no reuse
        Assert.Equal(TcpState.TimeWait, c.State);
        h.ExpectNothing();
    }

    [Fact]
    public void Without_timestamps_a_syn_beyond_rcv_nxt_reuses_time_wait_and_one_below_does_not()
    {
        (Harness h, TcpConnection old) = TimeWait(timestamps: false);
        h.Send(TcpFlags.Syn, Their(0), options: SynOptions(timestamps: false)); // at RCV.NXT - 1: an old one
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.TimeWait, old.State);

        h.Send(TcpFlags.Syn, Their(1000), options: SynOptions(timestamps: false));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, unchecked(Our(1) + 65535 + 2), Their(1001));
        Assert.Equal(TcpState.Closed, old.State);
    }

    [Fact]
    public void Without_a_listener_a_new_syn_to_time_wait_gets_a_challenge_ack()
    {
        (Harness h, TcpConnection old) = TimeWait(timestamps: false);
        old.Listener!.Close();
        h.Send(TcpFlags.Syn, Their(1000), options: SynOptions(timestamps: false));
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        Assert.Equal(TcpState.TimeWait, old.State);
    }
}
