using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// syn-ack-lost's verdict on records made here (no root): with the server's first two SYN-ACKs lost, the client must
/// resend its SYN on its timer and not sooner, the server must send its SYN-ACK again by its timer and in answer to the
/// repeated SYN, and nothing may follow the handshake but an ACK — whichever side serves.
/// </summary>
public sealed class SynAckLostJudgeTests
{
    private const ushort Port = 5012, Ephemeral = 40000;

    /// <summary>How one run goes: when the client's SYN goes again, how the server answers it, what else comes.</summary>
    private sealed record Run(double SynAgainAfter = 1003, bool ServerAnswersSyn = true, bool LateSynAck = false, bool ResetOnLate = false, bool SynAckAfterHandshake = false);

    private static LabRecord Build(bool userTcpServes, Run run)
    {
        var b = userTcpServes ? new RecordBuilder(Port, Ephemeral) : new RecordBuilder(Ephemeral, Port);
        void FromClient(TimeSpan at, uint seq, TcpFlags flags, uint? ack, int length = 0)
        {
            if (userTcpServes) b.FromKernel(at, seq, flags, ack, length);
            else b.FromUserTcp(at, seq, flags, ack, length);
        }
        void FromServer(TimeSpan at, uint seq, TcpFlags flags, uint? ack, bool dropped = false)
        {
            if (userTcpServes) b.FromUserTcp(at, seq, flags, ack, dropped: dropped);
            else b.FromKernel(at, seq, flags, ack, dropped: dropped);
        }
        LabSide server = userTcpServes ? LabSide.UserTcp : LabSide.Kernel;
        FromClient(Ms(0), 0, TcpFlags.Syn, null);
        TimeSpan syn = Ms(run.SynAgainAfter);
        FromClient(syn, 0, TcpFlags.Syn, null);
        // The server's SYN-ACKs: its first, its timer's 1 s on, and the answer to the repeated SYN (without one, its
        // doubled timer's); the link drops the first two, the third completes the handshake, and the server stops.
        TimeSpan[] synAcks = [.. new[] { Ms(0.2), Ms(1000.2), run.ServerAnswersSyn ? syn + Ms(0.1) : Ms(3000.2) }.Order()];
        FromServer(synAcks[0], 0, TcpFlags.Syn | TcpFlags.Ack, 1, dropped: true);
        FromServer(synAcks[1], 0, TcpFlags.Syn | TcpFlags.Ack, 1, dropped: true);
        TimeSpan through = synAcks[2];
        FromServer(through, 0, TcpFlags.Syn | TcpFlags.Ack, 1);
        // A timer firing as the handshake's ACK crosses it: a SYN-ACK the client gets once ESTABLISHED.
        if (run.LateSynAck) FromServer(through + Ms(0.05), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
        FromClient(through + Ms(0.1), 1, TcpFlags.Ack, 1);
        if (run.LateSynAck)
        {
            if (run.ResetOnLate) FromClient(through + Ms(0.15), 1, TcpFlags.Rst, null);
            else FromClient(through + Ms(0.15), 1, TcpFlags.Ack, 1);
        }
        TimeSpan established = through + Ms(0.2);
        FromClient(established + Ms(2), 1, TcpFlags.Ack | TcpFlags.Psh, 1, 5);
        FromServer(established + Ms(2.1), 1, TcpFlags.Ack, 6);
        b.Mark(established + Ms(2.2), server, "read 5 bytes, as written");
        if (run.SynAckAfterHandshake) FromServer(established + Ms(1000), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
        StateSpans(b, userTcpServes, established);
        return b.Build("syn-ack-lost", userTcpServes ? LabRole.UserTcpActive : LabRole.UserTcpPassive);
    }

    // Each side's states: the kernel's from its socket table, UserTcp's from its engine's events.
    private static void StateSpans(RecordBuilder b, bool userTcpServes, TimeSpan established)
    {
        (TcpState From, TcpState To)[] userTcp = userTcpServes
            ? [(TcpState.Listen, TcpState.SynReceived), (TcpState.SynReceived, TcpState.Established)]
            : [(TcpState.Closed, TcpState.SynSent), (TcpState.SynSent, TcpState.Established)];
        b.Event(new TcpEvent(Ms(0.1), TcpEventKind.StateChanged, default, userTcp[0].From, userTcp[0].To));
        b.Event(new TcpEvent(established, TcpEventKind.StateChanged, default, userTcp[1].From, userTcp[1].To));
        b.KernelSample(Ms(0.1), userTcpServes ? KernelTcpState.SynSent : KernelTcpState.SynReceived);
        b.KernelSample(established, KernelTcpState.Established);
    }

    private static IReadOnlyList<string> Failed(bool userTcpServes, Run run) =>
        [.. LabCatalog.Find("syn-ack-lost")!.Judge(Build(userTcpServes, run)).Expectations.Where(e => !e.Passed).Select(e => e.What)];

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Both_the_clients_syn_and_the_servers_syn_ack_go_again_and_the_answer_to_the_syn_completes_it(bool userTcpServes)
    {
        LabVerdict verdict = LabCatalog.Find("syn-ack-lost")!.Judge(Build(userTcpServes, new Run()));

        Assert.Empty(verdict.Expectations.Where(e => !e.Passed).Select(e => e.What));
        Assert.Contains("sent its SYN-ACK again 1000.0 ms after its SYN-ACK before (its timer); then 0.1 ms after the repeated SYN reached it (its answer).",
            verdict.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(900)]
    [InlineData(1600)]
    public void A_client_that_resends_its_syn_well_before_or_after_its_initial_rto_fails(double after)
    {
        Assert.Equal(
            ["the client (the kernel), hearing nothing, resends its SYN on its timer, first about its initial RTO after the first (1.000 s, 400.0 ms allowed), and not before"],
            Failed(userTcpServes: true, new Run(SynAgainAfter: after)));
    }

    [Fact]
    public void A_server_that_leaves_the_repeated_syn_unanswered_fails()
    {
        Assert.Equal(
            ["the server (the kernel) sends its SYN-ACK again no later than its own timer would (its initial RTO after the first, 400.0 ms allowed), and answers the client's repeated SYN with one at once (within 50.0 ms)"],
            Failed(userTcpServes: false, new Run(ServerAnswersSyn: false)));
    }

    [Fact]
    public void A_late_syn_ack_answered_by_an_ack_passes_and_one_answered_by_a_reset_fails()
    {
        Assert.Empty(Failed(userTcpServes: true, new Run(LateSynAck: true)));
        Assert.Equal(
            ["a SYN-ACK that reaches the client after the one it took draws only an ACK (a duplicate, RFC 9293 §3.10.7.4, or RFC 5961 §4's challenge), and nobody resets"],
            Failed(userTcpServes: true, new Run(LateSynAck: true, ResetOnLate: true)));
    }

    [Fact]
    public void A_syn_ack_after_the_handshakes_ack_reached_the_server_fails()
    {
        IReadOnlyList<string> failed = Failed(userTcpServes: true, new Run(SynAckAfterHandshake: true));

        Assert.Contains("the server sends no SYN-ACK once the handshake's ACK has reached it (its timer stopped)", failed);
    }
}
