using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// syn-ack-lost: the server's SYN-ACK is lost, the handshake's second step — its first two sendings, so that both
/// ways of sending it again show. The client, hearing nothing, cannot tell a lost SYN from a lost SYN-ACK and resends
/// its SYN on its timer (initial RTO 1 s, RFC 6298 §2.1); the server, hearing no ACK, resends its SYN-ACK on its own
/// timer, and at once when the client's SYN comes again, as Linux does (tcp_check_req → inet_rtx_syn_ack; RFC 9293
/// §3.10.7.4 would answer that unacceptable SYN with a bare ACK, which a client in SYN-SENT drops). Whichever SYN-ACK
/// gets through completes the handshake; one that comes after finds the client ESTABLISHED and draws an ACK. Then the
/// client sends a few bytes, to show the connection works, and the run waits past the server's timer for any late
/// SYN-ACK. Role active: UserTcp is the server; passive: the kernel is.
/// </summary>
public sealed class SynAckLost : LabScenario
{
    internal const ushort Port = 5012;
    internal static readonly byte[] Hello = "hello"u8.ToArray();
    /// <summary>How many of the server's first SYN-ACKs the link drops.</summary>
    internal const int Lost = 2;
    /// <summary>How soon after the repeated SYN reached the server a SYN-ACK counts as its answer rather than the server's timer.</summary>
    private static readonly TimeSpan Answering = TimeSpan.FromMilliseconds(50);
    /// <summary>The initial RTO both sides start from (RFC 6298 §2.1; Linux's TCP_TIMEOUT_INIT), and what a loaded machine may add to it.</summary>
    private static readonly TimeSpan InitialRto = TimeSpan.FromSeconds(1), Slack = TimeSpan.FromMilliseconds(400);

    public override string Name => "syn-ack-lost";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp is the server, the kernel the client"
        : "the kernel is the server, UserTcp the client";

    public override string Question =>
        "The server's SYN-ACK is lost (the handshake's second step). Who sends again — the client its SYN, the server its SYN-ACK, or both — and when? What happens to the copy that arrives second?";

    public override IReadOnlyList<string> Faults(LabRole role) =>
        [string.Create(CultureInfo.InvariantCulture, $"drop {(role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel")} flags=SYN+ACK port={Port} nth=1..{Lost}")];

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpServes = s.Role == LabRole.UserTcpActive;
        LabConnection c = await s.OpenAsync(Port, kernelConnects: userTcpServes).ConfigureAwait(false);
        // The client's few bytes, read by the server: the connection works.
        if (userTcpServes)
        {
            s.Mark(LabSide.Kernel, $"send {Hello.Length} bytes", c.Id);
            c.Kernel.Send(Hello);
            byte[] got = await UserTcpReadsExactlyAsync(s, c.UserTcp, Hello.Length).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, TailLoss.Received(got, Hello), c.Id);
        }
        else
        {
            s.Mark(LabSide.UserTcp, $"write {Hello.Length} bytes", c.Id);
            await c.UserTcp.WriteAsync(Hello, s.Token).ConfigureAwait(false);
            byte[]? got = await KernelReadAsync(s, c.Kernel, StateTimeout).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, TailLoss.Received(got ?? [], Hello), c.Id);
        }
        // Past the server's own SYN-ACK timer (1 s from its last SYN-ACK, doubled once), so a late SYN-ACK would show.
        await s.Delay(TimeSpan.FromSeconds(2.5)).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, userTcpServes ? TcpState.TimeWait : TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        FourTuple c = First(r);
        bool userTcpServes = r.Role == LabRole.UserTcpActive;
        LabSide server = userTcpServes ? LabSide.UserTcp : LabSide.Kernel, client = userTcpServes ? LabSide.Kernel : LabSide.UserTcp;
        string serverName = userTcpServes ? "UserTcp" : "the kernel", clientName = userTcpServes ? "the kernel" : "UserTcp";
        IReadOnlyList<WirePacket> syns = r.From(c, client, p => p.Segment.Flags.HasFlag(TcpFlags.Syn));
        IReadOnlyList<WirePacket> synAcks = r.From(c, server, p => p.Segment.Flags.HasFlag(TcpFlags.Syn));
        int drops = r.PacketsOf(c).Count(p => p.Dropped);
        v.Expect($"the link drops {serverName}'s first {Lost} SYN-ACKs, and nothing else",
            synAcks.Count > Lost && synAcks.Take(Lost).All(p => p.Dropped) && drops == Lost,
            $"{synAcks.Count} SYN-ACK(s), {synAcks.Count(p => p.Dropped)} dropped; {drops} packet(s) dropped");

        TimeSpan? synGap = syns.Count > 1 ? syns[1].At - syns[0].At : null;
        v.Expect($"the client ({clientName}), hearing nothing, resends its SYN on its timer, first about its initial RTO after the first ({LabRecord.Seconds(InitialRto)}, {LabRecord.Milliseconds(Slack)} allowed), and not before",
            syns.Count >= 2 && synGap is TimeSpan g && g >= InitialRto - TimeSpan.FromMilliseconds(50) && g <= InitialRto + Slack,
            $"{syns.Count} SYN(s)" + (synGap is TimeSpan g1 ? $"; the second {LabRecord.Milliseconds(g1)} after the first" : ""));

        // Each SYN-ACK after the first: an answer to the repeated SYN (within Answering of its arrival) or the server's own timer.
        var resends = new List<string>();
        int answers = 0;
        TimeSpan? firstResend = synAcks.Count > 1 ? synAcks[1].At : null;
        for (int i = 1; i < synAcks.Count; i++)
        {
            WirePacket p = synAcks[i];
            WirePacket? answered = syns.Skip(1).LastOrDefault(sy => sy.ArrivedAt <= p.At && p.At - sy.ArrivedAt <= Answering);
            if (answered is not null) answers++;
            resends.Add(answered is not null
                ? $"{LabRecord.Milliseconds(p.At - answered.ArrivedAt)} after the repeated SYN reached it (its answer)"
                : $"{LabRecord.Milliseconds(p.At - synAcks[i - 1].At)} after its SYN-ACK before (its timer)");
        }
        v.Expect($"the server ({serverName}) sends its SYN-ACK again no later than its own timer would (its initial RTO after the first, {LabRecord.Milliseconds(Slack)} allowed), and answers the client's repeated SYN with one at once (within {LabRecord.Milliseconds(Answering)})",
            firstResend is TimeSpan f && f - synAcks[0].At <= InitialRto + Slack && answers > 0,
            resends.Count == 0 ? "no second SYN-ACK" : string.Join("; ", resends));

        IReadOnlyList<StateSpan> clientStates = userTcpServes ? r.KernelStates(c) : r.UserTcpStates(c);
        IReadOnlyList<StateSpan> serverStates = userTcpServes ? r.UserTcpStates(c) : r.KernelStates(c);
        (bool arrived, string reads) = (ArrivedAsWritten(r, c, server, Hello.Length), ReadsOf(r, c, server));
        v.Expect("the handshake completes on the SYN-ACK that got through: both sides ESTABLISHED, and the client's bytes reach the server",
            LabRecord.WasIn(clientStates, "ESTABLISHED") && LabRecord.WasIn(serverStates, "ESTABLISHED") && arrived,
            $"client: {LabRecord.Path(clientStates)}; server: {LabRecord.Path(serverStates)}; {reads}");

        // What the client did with SYN-ACKs after the first that reached it: each answered by an ACK, nothing reset.
        IReadOnlyList<WirePacket> delivered = [.. synAcks.Where(p => !p.Dropped)];
        IReadOnlyList<WirePacket> late = [.. delivered.Skip(1)];
        IReadOnlyList<WirePacket> clientAcks = r.From(c, client, IsPureAck);
        int answeredLate = late.Count(p => clientAcks.Any(a => a.At >= p.ArrivedAt && a.At - p.ArrivedAt < TimeSpan.FromMilliseconds(100)));
        int resets = r.PacketsOf(c).Count(p => p.Segment.Flags.HasFlag(TcpFlags.Rst));
        v.Expect($"a SYN-ACK that reaches the client after the one it took draws only an ACK (a duplicate, RFC 9293 §3.10.7.4, or RFC 5961 §4's challenge), and nobody resets",
            answeredLate == late.Count && resets == 0,
            $"{late.Count} later SYN-ACK(s), {answeredLate} answered with an ACK; {resets} RST(s)");
        TimeSpan handshakeAcked = FirstAckReached(r, c, client);
        int afterAck = clientAcks.Count > 0 ? synAcks.Count(p => p.At > handshakeAcked) : 0;
        v.Expect("the server sends no SYN-ACK once the handshake's ACK has reached it (its timer stopped)", afterAck == 0,
            $"{afterAck} SYN-ACK(s) after the handshake's ACK reached {serverName}");

        string observed = $"{Capitalized(clientName)} sent its SYN; {serverName} answered with a SYN-ACK, which the link dropped, as it dropped the next. "
            + (synGap is TimeSpan sg ? $"{Capitalized(clientName)} heard nothing and resent its SYN {LabRecord.Milliseconds(sg)} after the first{(syns.Count > 2 ? $" ({syns.Count - 1} resends in all: {SynTimes(syns)})" : "")}. " : $"{Capitalized(clientName)} did not resend its SYN. ")
            + (resends.Count == 0 ? $"{Capitalized(serverName)} never sent its SYN-ACK again." : $"{Capitalized(serverName)} sent its SYN-ACK again {string.Join("; then ", resends)}. ")
            + $"{Capitalized(clientName)} took the first SYN-ACK that arrived and went ESTABLISHED ({LabRecord.Path(clientStates)}); {serverName}: {LabRecord.Path(serverStates)}. "
            + (late.Count == 0 ? "" : $"{late.Count} more SYN-ACK(s) reached {clientName} after that, each answered with an ACK. ")
            + "Both sides retransmit: neither can tell which of the two segments was lost. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    /// <summary>"at 1.004, 2.008 s": when each SYN after the first went, from the first.</summary>
    private static string SynTimes(IReadOnlyList<WirePacket> syns) => "at " + List(syns.Skip(1).Select(p => p.At - syns[0].At));

    /// <summary>When the client's first ACK of a SYN-ACK (the handshake's third step) reached the server (<see cref="WirePacket.ArrivedAt"/>).</summary>
    private static TimeSpan FirstAckReached(LabRecord r, FourTuple c, LabSide client) =>
        FirstOf(r.From(c, client, p => p.Segment.Has(TcpFlags.Ack) && !p.Segment.Has(TcpFlags.Syn) && !p.Dropped))?.ArrivedAt ?? r.End;
}
