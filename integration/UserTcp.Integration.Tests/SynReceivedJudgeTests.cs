using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// syn-rcvd's verdict on records made here (no root): the server's SYN-ACK three times, each answered by the client's ACK,
/// all lost. The first ACK completes the client's handshake; to a client already ESTABLISHED each repeat is a SYN on a
/// synchronized connection, answered by a challenge ACK (RFC 5961 §4). The lab names those challenge ACKs only when the
/// client counted them so: the kernel's TcpExtTCPChallengeACK, or UserTcp's engine dropping the SYN for that.
/// </summary>
public sealed class SynReceivedJudgeTests
{
    private const ushort Port = 5009, Ephemeral = 58164;
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static LabVerdict Judge(bool userTcpServes, long kernelChallenges = 0, bool engineChallenges = false)
    {
        var b = userTcpServes ? new RecordBuilder(Port, Ephemeral) : new RecordBuilder(Ephemeral, Port);
        b.Config = new TcpConfig { SynAckRetries = 2 };
        b.KernelSettings["tcp_synack_retries"] = "2";
        double[] synAcks = [26, 1020, 3019];
        if (userTcpServes)
        {
            b.FromKernel(Ms(14), 0, TcpFlags.Syn, null);
            foreach (double at in synAcks)
            {
                b.FromUserTcp(Ms(at), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
                b.FromKernel(Ms(at + 0.1), 1, TcpFlags.Ack, 1, dropped: true);
            }
            b.Event(new TcpEvent(Ms(15), TcpEventKind.StateChanged, default, TcpState.Listen, TcpState.SynReceived, TcpCause.SynInListen));
            b.Event(new TcpEvent(Ms(7019), TcpEventKind.StateChanged, default, TcpState.SynReceived, TcpState.Closed, TcpCause.RetransmissionsExhausted));
            b.KernelSample(Ms(19), KernelTcpState.SynSent);
            b.KernelSample(Ms(29), KernelTcpState.Established);
            if (kernelChallenges > 0)
            {
                b.KernelCounters["TcpExtTCPChallengeACK"] = kernelChallenges;
                b.KernelCounters["TcpExtTCPSYNChallenge"] = kernelChallenges;
            }
        }
        else
        {
            b.FromUserTcp(Ms(10), 0, TcpFlags.Syn, null);
            b.Event(new TcpEvent(Ms(10), TcpEventKind.StateChanged, default, TcpState.Closed, TcpState.SynSent, TcpCause.Connect));
            foreach (double at in synAcks)
            {
                b.FromKernel(Ms(at), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
                if (at > synAcks[0] && engineChallenges)
                {
                    b.Event(new TcpEvent(Ms(at + 0.05), TcpEventKind.Dropped, default, TcpState.Established, TcpState.Established, TcpCause.OutsideWindow,
                        Segment: new SegmentSummary(new SeqNumber(RecordBuilder.KernelIsn), new SeqNumber(RecordBuilder.UserTcpIsn + 1), TcpFlags.Syn | TcpFlags.Ack, 0, 64240)));
                }
                b.FromUserTcp(Ms(at + 0.1), 1, TcpFlags.Ack, 1, dropped: true);
            }
            b.Event(new TcpEvent(Ms(26.05), TcpEventKind.StateChanged, default, TcpState.SynSent, TcpState.Established, TcpCause.SynAckReceived));
            b.KernelSample(Ms(12), KernelTcpState.SynReceived);
            b.KernelSample(Ms(7113), null);
        }
        b.End = Ms(7300);
        return LabCatalog.Find("syn-rcvd")!.Judge(b.Build("syn-rcvd", userTcpServes ? LabRole.UserTcpActive : LabRole.UserTcpPassive));
    }

    private static Expectation Answers(LabVerdict v) => Assert.Single(v.Expectations, e => e.What.Contains("answers each one with an ACK the link loses", StringComparison.Ordinal));

    /// <summary>syn-rcvd's active run at cb00558: the kernel counted TcpExtTCPChallengeACK +2, and the text said "answered each with an ACK (3, all lost)".</summary>
    [Fact]
    public void The_kernels_answers_to_repeated_syn_acks_are_named_challenge_acks_by_its_own_count()
    {
        LabVerdict v = Judge(userTcpServes: true, kernelChallenges: 2);

        Assert.All(v.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Equal("SYN-SENT → ESTABLISHED; 3 ACKs lost: the handshake's ACK, then 2 challenge ACKs (the kernel counted TCPChallengeACK +2, TCPSYNChallenge +2)",
            Answers(v).Observed);
        Assert.Contains("The kernel answered each: the handshake's ACK, then 2 challenge ACKs, all lost — to a client already ESTABLISHED a repeated SYN-ACK "
            + "is a SYN on a synchronized connection, which draws a challenge ACK (RFC 5961 §4; the kernel counted TCPChallengeACK +2, TCPSYNChallenge +2).",
            v.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void Usertcps_answers_are_named_challenge_acks_by_its_engines_drops()
    {
        LabVerdict v = Judge(userTcpServes: false, engineChallenges: true);

        Assert.All(v.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Equal("CLOSED → SYN-SENT → ESTABLISHED; 3 ACKs lost: the handshake's ACK, then 2 challenge ACKs (UserTcp's engine dropped 2 SYN-ACK(s) with a challenge ACK)",
            Answers(v).Observed);
    }

    /// <summary>Nothing counted, nothing named: a challenge ACK is what the client's own count says, not a guess from the run's shape.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_a_count_the_answers_stay_plain_acks(bool userTcpServes)
    {
        LabVerdict v = Judge(userTcpServes);

        Assert.DoesNotContain("challenge", Answers(v).Observed, StringComparison.Ordinal);
        Assert.DoesNotContain("challenge", v.Observed, StringComparison.Ordinal);
        Assert.Contains("answered each with an ACK (3, all lost).", v.Observed, StringComparison.Ordinal);
    }

    /// <summary>More counted than answers seen (another socket's, say) names no more than the ACKs after the handshake's.</summary>
    [Fact]
    public void The_count_names_no_more_challenge_acks_than_answers_seen()
    {
        LabVerdict v = Judge(userTcpServes: true, kernelChallenges: 5);

        Assert.StartsWith("SYN-SENT → ESTABLISHED; 3 ACKs lost: the handshake's ACK, then 2 challenge ACKs (the kernel counted TCPChallengeACK +5", Answers(v).Observed, StringComparison.Ordinal);
    }
}
