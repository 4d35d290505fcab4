using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>RFC 5961 complete: §3 RSTs, §4 SYNs, §5 ACKs, and §7's rate limit on the challenge ACKs they draw.</summary>
public class ChallengeAckTests
{
    private static long Count(Harness h, MibCounter counter) => h.Engine.Counters[counter];

    [Fact]
    public void An_in_window_rst_not_at_rcv_nxt_draws_one_challenge_ack_per_half_second()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Rst, Their(100));
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.Send(TcpFlags.Rst, Their(200));
        h.Send(TcpFlags.Rst, Their(300));
        h.ExpectNothing(); // Linux's tcp_invalid_ratelimit: one answer per 500 ms per connection
        h.Advance(Ms(499));
        h.Send(TcpFlags.Rst, Their(400));
        h.ExpectNothing();
        h.Advance(Ms(1));
        h.Send(TcpFlags.Rst, Their(500));
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.ExpectNothing();
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPChallengeACK));
        Assert.Equal(3, Count(h, MibCounter.TcpExtTCPACKSkippedChallenge));
        Assert.Equal(5, h.Engine.Counters.Dropped(TcpCause.ResetNotExact));
    }

    [Fact]
    public void A_syn_in_established_draws_a_challenge_ack_in_or_out_of_the_window_and_changes_nothing()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Syn, Their(10));
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.Advance(Ms(500));
        h.Send(TcpFlags.Syn, unchecked(PeerIsn + 0x4000_0000u)); // far outside the window
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.Send(TcpFlags.Syn, Their(20));
        h.ExpectNothing();
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(3, Count(h, MibCounter.TcpExtTCPSYNChallenge));
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPChallengeACK));
    }

    [Fact]
    public void Data_whose_ack_is_older_than_the_peers_largest_window_is_dropped_with_a_challenge_ack()
    {
        (Harness h, TcpConnection c) = Established();
        // More than a window acknowledged, so the bound is the window's, not what was sent (ListenTimersReviewTests).
        const int sent = 70_000;
        int written = 0;
        for (int i = 0; i < 100 && c.SndUna.Value != Our(sent); i++)
        {
            if (written < sent) written += c.Send(Bytes(Math.Min(10_000, sent - written)));
            h.Poll();
            h.DrainSent();
            h.Send(TcpFlags.Ack, Their(0), c.SndMax.Value, PeerWindow);
            h.DrainSent();
        }
        Assert.Equal(Our(sent), c.SndUna.Value);
        // RFC 5961 §5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT; the peer's largest window is 64256.
        uint tooOld = unchecked(Our(sent) - 64257u);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), tooOld, PeerWindow, Bytes(100));
        h.Expect(TcpFlags.Ack, Our(sent), Their(0));
        Assert.Equal(0, c.BytesToRead);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.AckTooOld));

        // An old ACK inside that range is only a duplicate: its data is taken.
        uint oldButAcceptable = unchecked(Our(sent) - 64256u);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), oldButAcceptable, PeerWindow, Bytes(100));
        h.Expect(TcpFlags.Ack, Our(sent), Their(100)); // its ACK, not a challenge
        h.ExpectNothing();
        Assert.Equal(100, c.BytesToRead);
    }

    [Fact]
    public void An_ack_for_data_never_sent_is_dropped_with_a_rate_limited_challenge_ack()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(1000), PeerWindow, Bytes(10));
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(2000), PeerWindow, Bytes(10));
        h.ExpectNothing();
        Assert.Equal(0, c.BytesToRead);
        Assert.Equal(2, h.Engine.Counters.Dropped(TcpCause.AckOfUnsentData));
    }

    [Fact]
    public void In_time_wait_an_ack_for_data_never_sent_draws_a_rate_limited_challenge_ack()
    {
        (Harness h, TcpConnection c) = TimeWait();
        Assert.NotNull(c.TimeWaitRecord);
        h.Send(TcpFlags.Ack, Their(1), Our(1000), PeerWindow);
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        h.Send(TcpFlags.Ack, Their(1), Our(2000), PeerWindow);
        h.Send(TcpFlags.Ack, Their(1), Our(3000), PeerWindow);
        h.ExpectNothing(); // as in the connection before TIME-WAIT: one answer per 500 ms (RFC 5961 §7)
        h.Advance(Ms(500));
        h.Send(TcpFlags.Ack, Their(1), Our(4000), PeerWindow);
        h.Expect(TcpFlags.Ack, Our(1), Their(1));
        h.ExpectNothing();
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPChallengeACK));
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPACKSkippedChallenge));
        Assert.Equal(4, h.Engine.Counters.Dropped(TcpCause.AckOfUnsentData));
    }

    [Fact]
    public void Out_of_window_data_is_always_acknowledged_but_bare_acks_only_twice_a_second()
    {
        (Harness h, TcpConnection c) = Established();
        uint beyond = Their(10_000_000);
        h.Send(TcpFlags.Ack, beyond, Our(0), PeerWindow);
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.Send(TcpFlags.Ack, beyond, Our(0), PeerWindow);
        h.ExpectNothing();
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPACKSkippedSeq));
        // Data cannot be part of an ACK loop (Linux's tcp_oow_rate_limited): each gets its duplicate ACK.
        for (int i = 0; i < 3; i++)
        {
            h.Send(TcpFlags.Ack | TcpFlags.Psh, beyond, Our(0), PeerWindow, Bytes(10));
            h.Expect(TcpFlags.Ack, Our(0), Their(0));
            h.ExpectNothing();
        }
        Assert.Equal(TcpState.Established, c.State);
    }

    [Fact]
    public void The_stack_wide_budget_caps_challenge_acks_across_connections()
    {
        // Ten connections, each drawing a challenge ACK once: the per-connection limit never bites, the stack's does.
        var h = new Harness(new TcpConfig { ChallengeAckLimit = 4 });
        h.Engine.Listen(Harness.LocalPort);
        for (ushort port = 50000; port < 50010; port++)
        {
            h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: port);
            h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: port);
        }
        h.DrainSent();
        for (ushort port = 50000; port < 50010; port++) h.Send(TcpFlags.Syn, Their(5), sourcePort: port);
        // Linux draws each second's budget between half the limit and one and a half times it: 2 to 5 here.
        long sent = Count(h, MibCounter.TcpExtTCPChallengeACK);
        Assert.InRange(sent, 2, 5);
        Assert.Equal(sent, h.PendingCount);
        Assert.Equal(10 - sent, Count(h, MibCounter.TcpExtTCPACKSkippedChallenge));
    }

    [Fact]
    public void A_hundred_thousand_blind_segments_neither_reset_nor_corrupt_a_connection()
    {
        (Harness h, TcpConnection c) = Established();
        var random = new Random(5961);
        TimeSpan start = h.Now;
        for (int i = 0; i < 100_000; i++)
        {
            // One attack segment every 20 µs (2 s in all), each a guess of the peer's sequence (and acknowledgment) number.
            h.AdvanceTo(start + TimeSpan.FromTicks(200L * i));
            uint seq = (uint)random.NextInt64(0, 1L << 32);
            uint ack = (uint)random.NextInt64(0, 1L << 32);
            switch (i % 3)
            {
                case 0: h.Send(TcpFlags.Rst, seq); break;
                case 1: h.Send(TcpFlags.Syn, seq); break;
                default: h.Send(TcpFlags.Ack | TcpFlags.Psh, seq, ack, PeerWindow, Bytes(64)); break;
            }
        }
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(0, c.BytesToRead);
        // RSTs and SYNs drew challenge ACKs at most twice a second; every other answer is a duplicate ACK for data.
        long challenges = Count(h, MibCounter.TcpExtTCPChallengeACK);
        Assert.InRange(challenges, 1, (long)((h.Now - start) / Ms(500)) + 1);

        // The real peer's data still arrives exactly.
        h.DrainSent();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), PeerWindow, Bytes(1000));
        Assert.Equal(Bytes(1000), ReadAll(c).Data);
    }
}
