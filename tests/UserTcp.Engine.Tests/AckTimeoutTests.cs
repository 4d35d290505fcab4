using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The delayed-ACK timeout (ato) as Linux computes it: set by the first data, following the peer's segment spacing
/// (tcp_event_data_recv), doubled by a delayed ACK that goes out alone (tcp_delack_timer_handler), drawn into a delay
/// bounded by SRTT and the ceiling (tcp_send_delayed_ack), and quick ACKs again after an idle spell longer than the RTO.
/// Every connection here had a 100 ms handshake: SRTT 100 ms, RTO 300 ms.
/// </summary>
public class AckTimeoutTests
{
    private static readonly TimeSpan Rtt = Ms(100);

    private static (Harness H, TcpConnection C) Connection(int quickAcks = 0, TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Rtt, (config ?? new TcpConfig()) with { QuickAcks = quickAcks });
        Assert.Equal(Ms(300), c.Rto);
        return (h, c);
    }

    /// <summary>The peer sends 100 bytes at <paramref name="at"/>, following what it sent before.</summary>
    private static void Data(Harness h, TimeSpan at, ref int offset)
    {
        h.AdvanceTo(at);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(offset), Our(0), window: PeerWindow, payload: Bytes(100));
        offset += 100;
    }

    /// <summary>The delayed ACK of everything up to <paramref name="offset"/> goes out at <paramref name="at"/>: not a tick before, once.</summary>
    private static void DelayedAckAt(Harness h, TcpConnection c, TimeSpan at, int offset)
    {
        h.ExpectNothing();
        Assert.Equal(at, c.TimerDeadline(TcpTimer.DelayedAck));
        h.AdvanceTo(at - TimeSpan.FromTicks(1));
        h.ExpectNothing();
        long counted = h.Engine.Counters[MibCounter.TcpExtDelayedACKs];
        Assert.Equal(at, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
        Assert.Equal(counted + 1, h.Engine.Counters[MibCounter.TcpExtDelayedACKs]); // Linux's DelayedACKs
    }

    [Fact]
    public void Ato_is_zero_until_data_arrives_then_its_minimum_which_a_lone_segment_waits()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Assert.Equal(TimeSpan.Zero, c.Info().AckTimeout); // tcpi_ato before any data
        Data(h, S(1), ref offset);
        Assert.Equal(Ms(40), c.Info().AckTimeout);
        DelayedAckAt(h, c, S(1) + Ms(40), offset);
    }

    [Fact]
    public void A_delayed_ack_that_goes_out_alone_doubles_ato_up_to_the_rto_and_the_delay_is_bounded_by_srtt()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Data(h, S(1), ref offset);
        DelayedAckAt(h, c, Ms(1040), offset);
        Assert.Equal(Ms(80), c.Info().AckTimeout);

        // A 160 ms gap, above ato and below the RTO, leaves ato as it was: this ACK waits 80 ms.
        Data(h, Ms(1200), ref offset);
        DelayedAckAt(h, c, Ms(1280), offset);
        Assert.Equal(Ms(160), c.Info().AckTimeout);

        // ato is 160 ms, but a delay above the minimum is bounded by SRTT.
        Data(h, Ms(1480), ref offset);
        DelayedAckAt(h, c, Ms(1580), offset);
        // Doubled to 320 ms and bounded by the RTO; tcpi_ato reports at most the ceiling, a jiffy below the minimum RTO.
        Assert.Equal(Ms(199), c.Info().AckTimeout);
    }

    [Fact]
    public void Segments_closer_together_than_ato_pull_it_back_down()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Data(h, S(1), ref offset);
        DelayedAckAt(h, c, Ms(1040), offset);
        Data(h, Ms(1200), ref offset);
        DelayedAckAt(h, c, Ms(1280), offset);
        Assert.Equal(Ms(160), c.Info().AckTimeout);

        // 100 ms after the last data, less than ato: half of ato plus the gap.
        Data(h, Ms(1300), ref offset);
        Assert.Equal(Ms(180), c.Info().AckTimeout);
        // 10 ms, within half the minimum: half of ato plus half the minimum. Two 100-byte segments are less than a full
        // one, so they wait (Linux's __tcp_ack_snd_check counts bytes) for the first one's timer, which stays: 1310 + 110
        // ms is later (tcp_send_delayed_ack keeps the earlier timeout).
        TimeSpan? firstTimer = c.TimerDeadline(TcpTimer.DelayedAck);
        Data(h, Ms(1310), ref offset);
        Assert.Equal(Ms(110), c.Info().AckTimeout);
        Assert.True(firstTimer < Ms(1420));
        DelayedAckAt(h, c, firstTimer!.Value, offset);
    }

    [Fact]
    public void An_answer_within_ato_makes_the_exchange_interactive_and_its_lone_delayed_ack_ends_that_with_ato_at_its_minimum()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Data(h, S(1), ref offset);
        DelayedAckAt(h, c, Ms(1040), offset);
        Data(h, Ms(1200), ref offset);

        // Answered 60 ms after the data: within ato (80 ms), so pingpong mode (tcp_event_data_sent), where a fixed
        // 40 ms would not have counted it.
        h.AdvanceTo(Ms(1260));
        c.Send(Bytes(10));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(offset), 10);
        Assert.False(c.QuickAck);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtDelayedACKs]); // the answer carried the ACK: no delayed ACK counted

        h.AdvanceTo(Ms(1300));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(offset), Our(10), window: PeerWindow, payload: Bytes(100));
        offset += 100;
        Assert.Equal(Ms(1380), c.TimerDeadline(TcpTimer.DelayedAck));
        h.AdvanceTo(Ms(1379));
        h.ExpectNothing();
        Assert.Equal(Ms(1380), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(10), Their(offset));
        h.ExpectNothing();
        // Gone out alone in pingpong mode: pingpong ends and ato falls to its minimum instead of doubling.
        Assert.True(c.QuickAck);
        Assert.Equal(Ms(40), c.Info().AckTimeout);
    }

    [Fact]
    public void Leaving_quick_ack_mode_deflates_ato_to_its_minimum()
    {
        (Harness h, TcpConnection c) = Connection(quickAcks: 2);
        int offset = 0;
        Data(h, S(1), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        // 30 ms later, less than ato: it grows to 20 + 30 = 50 ms; the last quick ACK then takes it back to 40 ms.
        Data(h, Ms(1030), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
        Assert.Equal(Ms(40), c.Info().AckTimeout);
        Data(h, Ms(1100), ref offset);
        DelayedAckAt(h, c, Ms(1140), offset);
    }

    [Fact]
    public void Data_after_an_idle_spell_longer_than_the_rto_is_acknowledged_at_once_and_a_shorter_one_is_not()
    {
        (Harness h, TcpConnection c) = Connection(quickAcks: 1);
        int offset = 0;
        Data(h, S(1), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset)); // the one quick ACK
        h.ExpectNothing();

        // 250 ms idle, below the 300 ms RTO: delayed as before.
        Data(h, Ms(1250), ref offset);
        DelayedAckAt(h, c, Ms(1290), offset);

        // 400 ms idle, above the RTO: quick ACKs again (tcp_event_data_recv's tcp_incr_quickack), one here.
        Data(h, Ms(1650), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
        Data(h, Ms(1660), ref offset);
        h.ExpectNothing();
        Assert.NotNull(c.TimerDeadline(TcpTimer.DelayedAck));
    }

    [Fact]
    public void Idle_data_is_not_acknowledged_at_once_in_pingpong_mode()
    {
        (Harness h, TcpConnection c) = Connection(quickAcks: 1);
        c.QuickAck = false; // TCP_QUICKACK 0: pingpong mode
        int offset = 0;
        Data(h, S(1), ref offset);
        DelayedAckAt(h, c, Ms(1040), offset);
        c.QuickAck = false;
        Data(h, S(2), ref offset);
        h.ExpectNothing();
        Assert.Equal(S(2) + Ms(40), c.TimerDeadline(TcpTimer.DelayedAck));
    }

    [Fact]
    public void A_fin_just_before_the_delayed_ack_is_due_is_acknowledged_now()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Data(h, S(1), ref offset);
        Assert.Equal(Ms(1040), c.TimerDeadline(TcpTimer.DelayedAck));
        // The deadline is within a quarter of the FIN's own delay (tcp_send_delayed_ack): the ACK goes now.
        h.AdvanceTo(Ms(1035));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, Their(offset), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset + 1));
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
    }

    [Fact]
    public void A_fin_well_before_the_delayed_ack_is_due_keeps_the_earlier_deadline()
    {
        (Harness h, TcpConnection c) = Connection();
        int offset = 0;
        Data(h, S(1), ref offset);
        h.AdvanceTo(Ms(1010));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, Their(offset), Our(0), window: PeerWindow);
        DelayedAckAt(h, c, Ms(1040), offset + 1);
    }

    [Fact]
    public void Delayed_ack_max_equal_to_delayed_ack_gives_a_fixed_delay()
    {
        (Harness h, TcpConnection c) = Connection(config: new TcpConfig { DelayedAck = Ms(100), DelayedAckMax = Ms(100) });
        int offset = 0;
        Data(h, S(1), ref offset);
        DelayedAckAt(h, c, Ms(1100), offset);
        // ato doubled to 200 ms, but no delay exceeds the ceiling.
        Data(h, Ms(1300), ref offset);
        DelayedAckAt(h, c, Ms(1400), offset);
        Assert.Equal(Ms(100), c.Info().AckTimeout);
    }

    [Fact]
    public void Delayed_ack_zero_acknowledges_a_lone_segment_at_once()
    {
        (Harness h, TcpConnection c) = Connection(config: new TcpConfig { DelayedAck = TimeSpan.Zero });
        int offset = 0;
        Data(h, S(1), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
        Assert.Equal(TimeSpan.Zero, c.Info().AckTimeout);
    }

    // ───────────── quick-ACK mode entered again (tcp_enter_quickack_mode) ─────────────

    [Fact]
    public void Data_sent_again_leaves_pingpong_with_ato_at_its_minimum_and_the_next_segment_is_acknowledged_at_once()
    {
        (Harness h, TcpConnection c) = Connection(quickAcks: Receiver.MaxQuickAcks);
        c.QuickAck = false; // pingpong mode
        int offset = 0;
        Data(h, S(1), ref offset);
        h.ExpectNothing();
        // 30 ms later, less than ato: 20 + 30 = 50 ms; the second segment is acknowledged at once.
        Data(h, Ms(1030), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        Assert.Equal(Ms(50), c.Info().AckTimeout);
        Assert.False(c.QuickAck);

        // The second segment again: acknowledged at once, and quick-ACK mode entered (tcp_send_dupack).
        h.AdvanceTo(Ms(1035));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(offset - 100), Our(0), window: PeerWindow, payload: Bytes(100));
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
        Assert.True(c.QuickAck);
        Assert.Equal(Ms(40), c.Info().AckTimeout);
        Data(h, Ms(1040), ref offset);
        h.Expect(TcpFlags.Ack, Our(0), Their(offset));
        h.ExpectNothing();
    }

    [Fact]
    public void Data_partly_sent_again_into_an_open_window_leaves_pingpong_as_it_is()
    {
        (Harness h, TcpConnection c) = Connection(quickAcks: Receiver.MaxQuickAcks);
        c.QuickAck = false;
        int offset = 0;
        Data(h, S(1), ref offset);
        h.AdvanceTo(Ms(1010));
        // [50, 150): half old, half new (Linux's tcp_data_queue queues it and enters no quick-ACK mode).
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(50), Our(0), window: PeerWindow, payload: Bytes(100));
        h.DrainSent();
        Assert.False(c.QuickAck);
    }

    [Fact]
    public void Data_into_a_closed_window_leaves_pingpong()
    {
        // Window 2920 (4096 rounded down to two MSS): two full segments close it.
        (Harness h, TcpConnection c) = Connection(config: new TcpConfig { ReceiveBufferSize = 4096, ReceiveBufferAutoTuning = false });
        byte[] data = Bytes(2920);
        h.AdvanceTo(S(1));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: data[..1460]);
        h.Send(TcpFlags.Ack, Their(1460), Our(0), window: PeerWindow, payload: data[1460..]);
        Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(0), Their(2920)).Window);
        c.QuickAck = false;

        h.AdvanceTo(Ms(1010));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(2920), Our(0), window: PeerWindow, payload: Bytes(100));
        Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(0), Their(2920)).Window); // dropped, answered at once
        h.ExpectNothing();
        Assert.True(c.QuickAck);
    }
}
