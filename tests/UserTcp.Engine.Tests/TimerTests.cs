using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>TIME-WAIT, FIN-WAIT-2, delayed ACK and keepalive timers, each hit at its exact instant.</summary>
public class TimerTests
{
    // ───────────── the earliest deadline, kept without a scan ─────────────

    [Fact]
    public void A_connections_next_deadline_is_always_the_earliest_armed_one_whatever_is_armed_moved_or_cancelled()
    {
        (Harness h, TcpConnection c) = Established();
        ConnectionTimers timers = c.Timers;
        TcpTimer[] all = [.. Enum.GetValues<TcpTimer>().Where(t => t != TcpTimer.None)];
        var random = new Random(7);
        for (int step = 0; step < 5_000; step++)
        {
            TcpTimer timer = all[random.Next(all.Length)];
            switch (random.Next(10))
            {
                case < 6:
                    timers.Arm(timer, Ms(random.Next(1, 50))); // small range: equal deadlines and re-arms at the same instant happen
                    break;
                case < 9:
                    timers.Cancel(timer);
                    break;
                default:
                    timers.CancelAll();
                    break;
            }
            TimeSpan? earliest = all.Select(t => timers.Deadline(t)).Where(d => d is not null).Min();
            // The engine's heap files the connection under a key never later than its earliest deadline (arming files only the
            // new deadline), and settles it to exactly that when asked.
            if (earliest is TimeSpan due) Assert.True(timers.HeapIndex >= 0 && timers.HeapKey <= due, $"step {step}: filed at {timers.HeapKey}, due {due}");
            Assert.Equal(earliest, timers.Next);
            if (step % 7 == 0) Assert.Equal(earliest, h.Engine.PollAt);
        }
    }

    // ───────────── TIME-WAIT (item 4) ─────────────

    [Fact]
    public void Time_wait_reacks_a_retransmitted_fin_and_restarts_its_2msl_timer()
    {
        (Harness h, TcpConnection c) = TimeWait(); // entered at t = 0
        Assert.Equal(S(60), c.TimerDeadline(TcpTimer.TimeWait));

        h.AdvanceTo(S(30));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow); // our last ACK was lost
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(S(90), c.TimerDeadline(TcpTimer.TimeWait)); // now + 2MSL, not the original 60 s

        h.AdvanceTo(S(60));
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(S(90), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
        Assert.Empty(h.Engine.Connections);
        h.ExpectNothing();
    }

    [Fact]
    public void Time_wait_expires_to_closed_exactly_2msl_after_entry()
    {
        (Harness h, TcpConnection c) = FinWait2(orphan: false);
        h.AdvanceTo(Ms(2500));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow);
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        Assert.Equal(TcpState.TimeWait, c.State); // entered at 2.5 s

        h.AdvanceTo(Ms(62_500) - TimeSpan.FromTicks(1));
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(Ms(62_500), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections);
        Assert.Null(h.Engine.PollAt);
        Assert.Contains(h.Log.Of(TcpEventKind.TimerFired), e => e.Timer == TcpTimer.TimeWait && e.Time == Ms(62_500));
    }

    // ───────────── FIN-WAIT-2 (item 5) ─────────────

    [Fact]
    public void Orphaned_fin_wait_2_expires_silently_after_fin_wait_2_timeout()
    {
        (Harness h, TcpConnection c) = FinWait1(); // Close() and our FIN at t = 0
        h.AdvanceTo(Ms(100));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(Ms(60_100), c.TimerDeadline(TcpTimer.FinWait2)); // FinWait2Timeout from entering FIN-WAIT-2

        Assert.Equal(Ms(60_100), h.AdvanceToNextDeadline());
        h.ExpectNothing(); // silently, as Linux (tcp_fin_timeout)
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
        Assert.Empty(h.Engine.Connections);
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.Closed], h.Log.States(c.Id));

        // The peer's FIN, sent much later, finds no connection: the listener answers <SEQ=SEG.ACK><CTL=RST>.
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow);
        h.Expect(TcpFlags.Rst, Isn + 2);
    }

    [Fact]
    public void Fin_wait_2_after_shutdown_send_waits_for_the_peers_fin_forever_and_data_still_flows_to_us()
    {
        (Harness h, TcpConnection c) = FinWait2(orphan: false);
        Assert.Null(c.TimerDeadline(TcpTimer.FinWait2));
        Assert.Null(h.Engine.PollAt);

        h.AdvanceTo(TimeSpan.FromHours(10));
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Null(h.Engine.PollAt);
        h.ExpectNothing();

        byte[] late = Bytes(9);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Isn + 2, window: PeerWindow, payload: late);
        h.Expect(TcpFlags.Ack, Isn + 2, Their(9)); // the first data is acknowledged at once (quick-ACK, as Linux)
        Assert.Equal(late, ReadAll(c).Data);

        h.Send(TcpFlags.Fin | TcpFlags.Ack, Their(9), Isn + 2, window: PeerWindow);
        h.Expect(TcpFlags.Ack, Isn + 2, Their(10));
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(ReceiveStatus.EndOfStream, ReadAll(c).Last);
    }

    [Fact]
    public void Close_after_a_long_half_close_starts_the_fin_wait_2_timeout_from_the_close()
    {
        (Harness h, TcpConnection c) = FinWait2(orphan: false);
        h.AdvanceTo(TimeSpan.FromHours(1));
        c.Close();
        Assert.Equal(TimeSpan.FromHours(1) + S(60), c.TimerDeadline(TcpTimer.FinWait2));
        Assert.Equal(TimeSpan.FromHours(1) + S(60), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
    }

    // ───────────── delayed ACK (item 9) ─────────────

    /// <summary>These pin the delayed ACK itself, so quick-ACK mode at connection start (tested on its own) is off.</summary>
    private static readonly TcpConfig DelayedAcksFromTheStart = new() { QuickAcks = 0 };

    [Fact]
    public void Single_segment_is_acked_after_exactly_the_delayed_ack_time()
    {
        (Harness h, TcpConnection c) = Established(DelayedAcksFromTheStart);
        h.AdvanceTo(S(1));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: Bytes(100));
        h.ExpectNothing();
        Assert.Equal(Ms(1040), c.TimerDeadline(TcpTimer.DelayedAck));

        h.AdvanceTo(Ms(1039));
        h.ExpectNothing();
        Assert.Equal(Ms(1040), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(100));
        h.ExpectNothing();
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void Two_full_sized_segments_are_acked_at_once()
    {
        (Harness h, TcpConnection c) = Established(DelayedAcksFromTheStart);
        byte[] data = Bytes(2 * 1460);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: data[..1460]);
        h.ExpectNothing();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(1460), Our(0), window: PeerWindow, payload: data[1460..]);
        h.Expect(TcpFlags.Ack, Our(0), Their(2920));
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void Out_of_order_segment_is_acked_at_once_and_the_gap_fill_acks_everything_at_once()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] data = Bytes(200);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(100), Our(0), window: PeerWindow, payload: data[100..]);
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // a duplicate ACK, not delayed (RFC 5681 §4.2)
        h.ExpectNothing();
        Assert.Equal(0, c.BytesToRead);

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: data[..100]);
        h.Expect(TcpFlags.Ack, Our(0), Their(200)); // the gap is filled: everything acknowledged at once
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
        Assert.Equal(data, ReadAll(c).Data);
    }

    [Fact]
    public void Data_we_send_carries_the_delayed_ack_and_cancels_its_timer()
    {
        (Harness h, TcpConnection c) = Established(DelayedAcksFromTheStart);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: Bytes(10));
        Assert.Equal(Ms(40), c.TimerDeadline(TcpTimer.DelayedAck));
        h.AdvanceTo(Ms(5));
        c.Send(Bytes(20));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(10), 20);
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
        h.AdvanceTo(Ms(40));
        h.ExpectNothing();
    }

    // ───────────── keepalive (item 10) ─────────────

    private static readonly TcpConfig KeepAliveConfig = new()
    {
        KeepAlive = true,
        KeepAliveIdle = TimeSpan.FromSeconds(10),
        KeepAliveInterval = TimeSpan.FromSeconds(2),
        KeepAliveCount = 3,
    };

    [Fact]
    public void Keepalive_probes_at_idle_then_every_interval_and_times_out_after_count_unanswered()
    {
        (Harness h, TcpConnection c) = Established(KeepAliveConfig); // idle since t = 0
        Assert.Equal(S(10), c.TimerDeadline(TcpTimer.KeepAlive));
        int[] schedule = [10, 12, 14];
        foreach (int at in schedule)
        {
            Assert.Equal(S(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1); // SEG.SEQ = SND.NXT - 1, no data (RFC 1122 §4.2.3.6)
            h.ExpectNothing();
            Assert.Equal(TcpState.Established, c.State);
        }

        Assert.Equal(S(16), h.AdvanceToNextDeadline()); // the third probe went unanswered for an interval
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void Keepalive_timeout_sends_rst_as_linux_does()
    {
        (Harness h, TcpConnection c) = Established(KeepAliveConfig);
        for (int i = 0; i < 3; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        }
        Assert.Equal(S(16), h.AdvanceToNextDeadline());
        // Linux tcp_keepalive_timer: tcp_send_active_reset() then tcp_write_err() — <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>,
        // so a peer that is merely unreachable for a while learns the connection is gone when it comes back.
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    [Fact]
    public void Keepalive_reply_resets_the_probe_count_and_idle_time_counts_from_it()
    {
        (Harness h, TcpConnection c) = Established(KeepAliveConfig);
        Assert.Equal(S(10), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(S(12), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1); // second probe
        h.AdvanceTo(Ms(12_500));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow); // the peer is alive

        Assert.Equal(S(14), h.AdvanceToNextDeadline()); // the interval timer finds recent activity: no probe
        h.ExpectNothing();
        Assert.Equal(Ms(22_500), h.AdvanceToNextDeadline()); // idle again from 12.5 s
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        // A full count of probes is allowed again: 22.5, 24.5, 26.5, and the give-up at 28.5.
        Assert.Equal(Ms(24_500), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(Ms(26_500), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(Ms(28_500), h.AdvanceToNextDeadline());
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    [Fact]
    public void Keepalive_probe_answered_with_rst_detects_a_half_open_connection()
    {
        (Harness h, TcpConnection c) = Established(KeepAliveConfig);
        Assert.Equal(S(10), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, PeerIsn + 1);
        // The peer rebooted: it knows no such connection and answers <SEQ=SEG.ACK><CTL=RST>, i.e. at our RCV.NXT.
        h.Send(TcpFlags.Rst, PeerIsn + 1);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.ConnectionReset, c.Error);
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void Keepalive_is_off_by_default()
    {
        (Harness h, TcpConnection c) = Established();
        Assert.Null(c.TimerDeadline(TcpTimer.KeepAlive));
        h.AdvanceTo(TimeSpan.FromHours(3));
        h.ExpectNothing();
        Assert.Equal(TcpState.Established, c.State);
    }
}
