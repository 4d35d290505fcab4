using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// How far zero-window probes back off while the peer answers them with its window still shut (RFC 1122 §4.2.2.17: as
/// long as it answers, the connection stays): no further than tcp_retries2 doublings (Linux's tcp_send_probe0), and an
/// orphan gives up once its interval has reached the maximum RTO (Linux's tcp_probe_timer, tcp_orphan_retries).
/// tests/scripts/persist/probe-backoff-capped-by-retries2.pkt shows the first on Linux 6.18.
/// </summary>
public class PersistBackoffTests
{
    [Fact]
    public void Answered_probes_back_off_no_further_than_data_retries_doublings()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { DataRetries = 2 }); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();

        // 200 ms, then two doublings (400, 800), then the same 800 ms: not 1.6 s, 3.2 s.
        int[] schedule = [200, 600, 1_400, 2_200, 3_000, 3_800];
        foreach (int at in schedule)
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // answered at once: still shut
            h.ExpectNothing();
        }
        Assert.Equal(Ms(4_600), c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(TcpState.Established, c.State); // answered probes never give up
    }

    [Fact]
    public void An_orphan_in_fin_wait_1_gives_up_silently_once_its_answered_probes_back_off_to_the_maximum_rto()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { OrphanRetries = 3 });
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        c.Close(); // the FIN waits behind the data the shut window holds back
        h.Poll();
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait1, c.State);
        Assert.True(c.IsOrphaned);

        // Ten answered probes, 200 ms doubling: the tenth at 204.6 s; the interval after it (204.8 s) is past 120 s.
        TimeSpan at = TimeSpan.Zero, interval = Ms(200);
        for (int i = 0; i < 10; i++)
        {
            at += interval;
            Assert.Equal(at, h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
            h.ExpectNothing();
            Assert.Equal(TcpState.FinWait1, c.State);
            interval *= 2;
        }
        Assert.Equal(Ms(204_600), at);

        // The next expiry, at the 120 s cap: no probe, no FIN, no RST (Linux's tcp_write_err); the connection is gone.
        Assert.Equal(Ms(324_600), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Contains(h.Log.Of(TcpEventKind.StateChanged), e => e.NewState == TcpState.Closed && e.Cause == TcpCause.OrphanProbesBackedOff);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void A_connection_its_application_still_holds_keeps_probing_at_the_maximum_rto_while_answered()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { OrphanRetries = 3 });
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        c.Shutdown(ShutdownDirection.Send); // FIN-WAIT-1 too, but not orphaned
        h.Poll();
        Assert.False(c.IsOrphaned);
        for (int i = 0; i < 14; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        }
        Assert.Equal(h.Now + TimeSpan.FromSeconds(120), c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(TcpState.FinWait1, c.State);
    }

    [Fact]
    public void An_orphan_whose_backoff_is_capped_below_the_maximum_rto_probes_on_while_answered()
    {
        // tcp_retries2 = 5 (the lab's): the interval stops at 6.4 s, never reaching 120 s, so Linux's orphan check never fires.
        (Harness h, TcpConnection c) = Established(new TcpConfig { DataRetries = 5, OrphanRetries = 3 });
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        c.Close();
        h.Poll();
        for (int i = 0; i < 20; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        }
        Assert.Equal(h.Now + Ms(6_400), c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(TcpState.FinWait1, c.State);
    }
}
