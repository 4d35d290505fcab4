using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Simulation.Tests;

/// <summary>
/// The teardown questions of ../shared/seeds, answered by experiment: A is the active closer, B the passive side.
/// Each test asserts both sides' state sequences and the retransmissions seen; the lab replays the same scenarios.
/// </summary>
public class SeedQuestionTests
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    /// <summary>Connects A to B:80 and exchanges a few bytes each way, so both sides are ESTABLISHED with data behind them.</summary>
    private static (TcpConnection A, TcpConnection B) Open(Simulation sim)
    {
        TcpPassiveOpen listener = sim.B.Engine.Listen(80);
        TcpConnection a = sim.A.Engine.Connect(new IpEndpoint(Simulation.AddressB, 80));
        TcpConnection? b = null;
        sim.RunUntil(() => listener.TryAccept(out b), TimeSpan.FromSeconds(10));
        a.Send("hello"u8);
        b!.Send("world"u8);
        sim.RunUntil(() => a.BytesToRead == 5 && b.BytesToRead == 5, sim.Now + TimeSpan.FromSeconds(10));
        a.Receive(new byte[5], out _);
        b.Receive(new byte[5], out _);
        sim.RunFor(TimeSpan.FromSeconds(1)); // let delayed ACKs go out
        return (a, b!);
    }

    /// <summary>B's application: close as soon as the peer's FIN has been read.</summary>
    private static Action CloseOnEndOfStream(TcpConnection b) => () =>
    {
        if (b.State == TcpState.CloseWait && b.Receive(new byte[1], out _) == ReceiveStatus.EndOfStream && !b.IsOrphaned) b.Close();
    };

    [Fact]
    public void Passive_side_receives_the_fin_and_nothing_it_sends_arrives_both_sides_retransmit_their_fin_then_give_up()
    {
        TcpConnection? passive = null;
        FaultRule silenceB = FaultRule.DropMatching(_ => passive is { FinReceived: true }, "drop everything B sends once A's FIN has arrived");
        using var sim = new Simulation(rulesB: [silenceB]);
        (TcpConnection a, TcpConnection b) = Open(sim);
        passive = b;

        a.Close();
        sim.RunUntil(() => a.State == TcpState.Closed && b.State == TcpState.Closed, sim.Now + Hour, CloseOnEndOfStream(b));

        // A never hears the ACK of its FIN: FIN-WAIT-1 until its orphan retries (8) run out. It never reaches FIN-WAIT-2.
        // Its FIN goes nine times more: a tail loss probe in the first timeout's place (RFC 8985 §7.2, as Linux's
        // user_timeout.pkt shows), then the eight timeouts.
        Assert.Equal([TcpState.SynSent, TcpState.Established, TcpState.FinWait1, TcpState.Closed], sim.A.States(a.Id));
        Assert.Equal(TcpError.TimedOut, a.Error);
        Assert.Equal(9, sim.A.Retransmissions(TcpFlags.Fin).Count);
        // B got the FIN, went CLOSE-WAIT, closed, and sits in LAST-ACK retransmitting a FIN nobody receives — not in
        // CLOSE-WAIT forever, and not "waiting for A's ACK" without doing anything.
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], sim.B.States(b.Id));
        Assert.Equal(TcpError.TimedOut, b.Error);
        Assert.Equal(9, sim.B.Retransmissions(TcpFlags.Fin).Count); // a probe and eight timeouts, as A's
        sim.Pass();
    }

    [Fact]
    public void Passive_side_whose_application_never_closes_stays_in_close_wait_while_the_orphaned_active_side_expires_from_fin_wait_2()
    {
        using var sim = new Simulation();
        (TcpConnection a, TcpConnection b) = Open(sim);

        a.Close();
        sim.RunUntil(() => a.State == TcpState.FinWait2, sim.Now + TimeSpan.FromSeconds(5));
        TimeSpan enteredFinWait2 = sim.Now;
        Assert.Equal(TcpState.CloseWait, b.State);

        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(5));
        // Linux's tcp_fin_timeout: an orphan leaves FIN-WAIT-2 after 60 s, silently.
        Assert.Equal(enteredFinWait2 + sim.A.Engine.Config.FinWait2Timeout, sim.Now);
        Assert.Equal(TcpError.None, a.Error);
        Assert.Equal([TcpState.SynSent, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.Closed], sim.A.States(a.Id));

        // CLOSE-WAIT has no timer: B waits for its application however long it takes.
        sim.RunFor(10 * Hour);
        Assert.Equal(TcpState.CloseWait, b.State);

        // When B's application finally closes, its FIN meets no connection and draws a RST.
        b.Close();
        sim.RunUntil(() => b.State == TcpState.Closed, sim.Now + TimeSpan.FromSeconds(5));
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], sim.B.States(b.Id));
        Assert.Contains(sim.B.Events, e => e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.Closed && e.Cause == TcpCause.ResetReceived);
        sim.Pass();
    }

    [Fact]
    public void Active_side_that_only_shut_down_sending_waits_in_fin_wait_2_forever_and_keeps_receiving()
    {
        using var sim = new Simulation();
        (TcpConnection a, TcpConnection b) = Open(sim);

        a.Shutdown(ShutdownDirection.Send);
        sim.RunUntil(() => a.State == TcpState.FinWait2, sim.Now + TimeSpan.FromSeconds(5));
        Assert.Null(a.TimerDeadline(TcpTimer.FinWait2));

        sim.RunFor(10 * Hour);
        Assert.Equal(TcpState.FinWait2, a.State);
        Assert.Equal(TcpState.CloseWait, b.State);

        // Half-close: B still sends, A still reads, for as long as they like.
        byte[] read = new byte[100];
        for (int i = 0; i < 5; i++)
        {
            b.Send("more data"u8);
            sim.RunFor(TimeSpan.FromSeconds(2));
            Assert.Equal(ReceiveStatus.Data, a.Receive(read, out int n));
            Assert.Equal(9, n);
        }
        b.Close();
        sim.RunUntil(() => a.State == TcpState.TimeWait, sim.Now + TimeSpan.FromSeconds(5));
        Assert.Equal(ReceiveStatus.EndOfStream, a.Receive(read, out _));
        sim.Pass();
    }

    [Fact]
    public void Lost_final_ack_makes_last_ack_retransmit_fin_and_time_wait_re_ack_it_and_restart_2msl()
    {
        TcpConnection? passive = null;
        bool dropped = false;
        FaultRule dropFinalAck = FaultRule.DropMatching(
            s => !dropped && passive is { State: TcpState.LastAck } && s.Flags == TcpFlags.Ack && s.PayloadLength == 0
                 && s.AcknowledgmentNumber == passive.SndMax && (dropped = true),
            "drop A's first ACK of B's FIN");
        using var sim = new Simulation(rulesA: [dropFinalAck]);
        (TcpConnection a, TcpConnection b) = Open(sim);
        passive = b;

        a.Close();
        sim.RunUntil(() => a.State == TcpState.TimeWait, sim.Now + TimeSpan.FromSeconds(5), CloseOnEndOfStream(b));
        TimeSpan firstTimeWaitDeadline = a.TimerDeadline(TcpTimer.TimeWait)!.Value;
        Assert.Equal(TcpState.LastAck, b.State);

        sim.RunUntil(() => b.State == TcpState.Closed, sim.Now + TimeSpan.FromSeconds(30), CloseOnEndOfStream(b));
        Assert.True(dropped);
        // B's FIN went out once more after an RTO; A, in TIME-WAIT, acknowledged it again and restarted 2MSL.
        Assert.Single(sim.B.Retransmissions(TcpFlags.Fin));
        Assert.Equal(TcpError.None, b.Error);
        TimeSpan restartedDeadline = a.TimerDeadline(TcpTimer.TimeWait)!.Value;
        Assert.True(restartedDeadline > firstTimeWaitDeadline);
        Assert.Equal(2, sim.A.Events.Count(e => e.Kind == TcpEventKind.TimerSet && e.Timer == TcpTimer.TimeWait && e.Connection == a.Id));

        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(2));
        Assert.Equal(restartedDeadline, sim.Now);
        Assert.Equal(TcpState.TimeWait, sim.A.States(a.Id)[^2]);
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], sim.B.States(b.Id));
        sim.Pass();
    }

    [Fact]
    public void Simultaneous_close_passes_both_sides_through_closing_to_time_wait()
    {
        using var sim = new Simulation();
        (TcpConnection a, TcpConnection b) = Open(sim);

        a.Close();
        b.Close();
        sim.RunUntil(() => a.State == TcpState.Closed && b.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(2));

        TcpState[] expected = [TcpState.Established, TcpState.FinWait1, TcpState.Closing, TcpState.TimeWait, TcpState.Closed];
        Assert.Equal(expected, sim.A.States(a.Id)[1..]);
        Assert.Equal(expected, sim.B.States(b.Id)[1..]);
        Assert.Empty(sim.A.Retransmissions(TcpFlags.Fin));
        Assert.Empty(sim.B.Retransmissions(TcpFlags.Fin));
        sim.Pass();
    }

    [Fact]
    public void Fin_and_ack_together_take_fin_wait_1_straight_to_time_wait()
    {
        using var sim = new Simulation();
        (TcpConnection a, TcpConnection b) = Open(sim);

        // B's application closes the moment it reads the FIN, inside the delayed-ACK window: one FIN+ACK answers both.
        a.Close();
        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(2), CloseOnEndOfStream(b));

        Assert.Equal([TcpState.SynSent, TcpState.Established, TcpState.FinWait1, TcpState.TimeWait, TcpState.Closed], sim.A.States(a.Id));
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], sim.B.States(b.Id));
        TcpEvent finAck = sim.B.Events.Single(e => e.Kind == TcpEventKind.SegmentOut && (e.Segment.Flags & TcpFlags.Fin) != 0);
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, finAck.Segment.Flags);
        sim.Pass();
    }

    [Fact]
    public void Half_open_peer_that_lost_its_state_is_found_only_when_we_send_and_it_answers_rst()
    {
        using var sim = new Simulation();
        (TcpConnection a, TcpConnection _) = Open(sim);

        sim.B.Restart(); // B reboots: its connection is gone, A does not know
        sim.B.Engine.Listen(80);
        sim.RunFor(10 * Hour);
        Assert.Equal(TcpState.Established, a.State); // idle and without keepalive, A never finds out

        a.Send("anyone there?"u8);
        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromSeconds(5));
        Assert.Equal(TcpError.ConnectionReset, a.Error);
        Assert.Equal(1, sim.B.Engine.Counters.ResetsSent);
        sim.Pass();
    }

    [Fact]
    public void Half_open_idle_connection_is_found_by_a_keepalive_probe_answered_with_rst()
    {
        var keepAlive = new TcpConfig { KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(60), KeepAliveInterval = TimeSpan.FromSeconds(10), KeepAliveCount = 3 };
        using var sim = new Simulation(configA: keepAlive);
        (TcpConnection a, TcpConnection _) = Open(sim);
        TimeSpan lastTraffic = sim.Now - TimeSpan.FromSeconds(1);

        sim.B.Restart();
        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(5));
        Assert.Equal(TcpError.ConnectionReset, a.Error);
        Assert.True(sim.Now >= lastTraffic + keepAlive.KeepAliveIdle && sim.Now < lastTraffic + keepAlive.KeepAliveIdle + TimeSpan.FromSeconds(2));
        sim.Pass();
    }

    [Fact]
    public void Peer_that_vanished_entirely_is_declared_dead_after_the_keepalive_probes_go_unanswered()
    {
        var keepAlive = new TcpConfig { KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(60), KeepAliveInterval = TimeSpan.FromSeconds(10), KeepAliveCount = 3 };
        using var sim = new Simulation(configA: keepAlive, rulesB: [FaultRule.Blackhole(TimeSpan.FromSeconds(5), TimeSpan.MaxValue)]);
        (TcpConnection a, TcpConnection _) = Open(sim);

        sim.RunUntil(() => a.State == TcpState.Closed, sim.Now + TimeSpan.FromMinutes(5));
        Assert.Equal(TcpError.TimedOut, a.Error);
        Assert.Equal(3, sim.A.Events.Count(e => e.Kind == TcpEventKind.SegmentOut && e.Segment.Seq == a.SndUna - 1));
        sim.Pass();
    }
}
