using System.Globalization;
using System.Net;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// last-ack-new-syn (seed 002's case for TIME-WAIT): the active closer keeps no TIME-WAIT — both sides cap their
/// TIME-WAIT records at 0 (Linux's tcp_max_tw_buckets, UserTcp's MaxTimeWait), so the closer is CLOSED right after its
/// final ACK — and that final ACK is lost. The other side is left in LAST-ACK; the closer at once connects again from
/// the same port to the same port. The seed says the SYN then draws a RST; RFC 9293 §3.10.7.4 (with RFC 5961 §4) answers
/// a SYN in a synchronized state with a challenge ACK, which the client in SYN-SENT finds unacceptable and answers with a
/// RST (§3.10.7.3); that RST ends LAST-ACK, and the client's SYN, resent on its timer, opens the new connection. Role
/// active: UserTcp closes first and reconnects, the kernel waits in LAST-ACK; passive: the other way round.
/// </summary>
public sealed class LastAckNewSyn : LabScenario
{
    private const ushort Port = 5015;
    private const ushort ClientPort = 40210;
    /// <summary>The client's initial RTO (RFC 6298 §2.1; Linux's TCP_TIMEOUT_INIT), which the SYN resent after its RST does not wait for.</summary>
    private static readonly TimeSpan InitialRto = TimeSpan.FromSeconds(1);
    /// <summary>How soon the SYN goes again after the RST: Linux's TCP_TIMEOUT_MIN is two jiffies (8 ms at HZ 250), UserTcp's 2 ms; a loaded machine may add to it.</summary>
    private static readonly TimeSpan SoonAfterReset = TimeSpan.FromMilliseconds(200);
    /// <summary>How soon after a segment reached a side its reply counts as the answer to it.</summary>
    private static readonly TimeSpan Answering = TimeSpan.FromMilliseconds(100);

    public override string Name => "last-ack-new-syn";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp closes first without TIME-WAIT and reconnects, the kernel waits in LAST-ACK"
        : "the kernel closes first without TIME-WAIT and reconnects, UserTcp waits in LAST-ACK";

    public override string Question =>
        "The active closer keeps no TIME-WAIT, its final ACK is lost, and it connects again at once from the same port. The other side is "
        + "still in LAST-ACK. What becomes of the new SYN — and of the old connection and the new one?";

    public override SeedClaim Seed => new("seed 002 (why TIME-WAIT is needed)",
        "Without TIME-WAIT the active closer goes straight to CLOSED. If its last ACK is lost and the client restarts at once on the same "
        + "port, the server, still waiting for that ACK, takes the new connection's SYN for an error and answers it with a RST, resetting "
        + "the connection.");

    // The closer keeps no TIME-WAIT, either side: a cap of 0 records (tcp_max_tw_buckets is per namespace).
    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(LabDefaults.KernelSettings(full)) { ["tcp_max_tw_buckets"] = "0" };

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        MaxTimeWait = 0,
        // UserTcp reconnects from the port it used: its one ephemeral port.
        EphemeralPortFirst = ClientPort,
        EphemeralPortLast = ClientPort,
    };

    // The closer's final ACK: its first pure ACK after the other side's FIN.
    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? [$"drop to-kernel flags==ACK empty after=from-kernel:FIN port={Port} nth=1"]
        : [$"drop from-kernel flags==ACK empty after=to-kernel:FIN port={Port} nth=1"];

    public override async Task RunAsync(LabSession s)
    {
        if (s.Role == LabRole.UserTcpActive)
        {
            LabConnection c = await s.OpenAsync(Port, kernelConnects: false).ConfigureAwait(false);
            // The kernel's listener for the new connection (OpenAsync's took the old one and is closed).
            using KernelSocket server = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, Port));
            await CloseInTurnAsync(s, c).ConfigureAwait(false);
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"connect() again from port {ClientPort} (no TIME-WAIT)", c.Id);
            Task<KernelSocket> acceptAgain = server.AcceptAsync(StateTimeout);
            try
            {
                UserTcpConnection second = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(Port), s.Token)
                    .WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
                s.Track(await acceptAgain.ConfigureAwait(false));
                s.Mark(LabSide.UserTcp, $"connect() succeeded from port {second.LocalEndpoint.Port}", c.Id);
                await s.Delay(TimeSpan.FromMilliseconds(300)).ConfigureAwait(false);
                second.Abort();
            }
            catch (SocketException e)
            {
                s.Mark(LabSide.UserTcp, $"connect() failed: {e.SocketErrorCode}", c.Id);
            }
        }
        else
        {
            using UserTcpListener listener = s.Stack.Listen(Port);
            (KernelSocket first, UserTcpConnection accepted, FourTuple id) = await KernelConnectsFromAsync(s, listener, ClientPort, Port).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"connect() to port {Port} from port {ClientPort}", id);
            // shutdown(SHUT_WR), not close(): an orphaned FIN-WAIT-2 socket becomes a TIME-WAIT record at once (tcp_rcv_state_process),
            // which the cap refuses too, so UserTcp's FIN, if its ACK went first, would find no socket and draw a RST.
            s.Mark(LabSide.Kernel, "shutdown(SHUT_WR)", id);
            first.ShutdownSend();
            int read = await accepted.ReadAsync(new byte[16], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read() = {read}, close()", id);
            await accepted.CloseAsync(s.Token).ConfigureAwait(false);
            // The kernel's socket is CLOSE once its final ACK is out (no TIME-WAIT record took its place); then its application closes it.
            await s.KernelReachesAsync(id, KernelTcpState.Closed, StateTimeout).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, "close()", id);
            first.Close();
            KernelSocket second = s.Track(s.NewKernelSocket(new IPEndPoint(LabSession.KernelAddress, ClientPort)));
            s.Mark(LabSide.Kernel, $"connect() again from port {ClientPort} (no TIME-WAIT)", id);
            Task<UserTcpConnection> acceptAgain = listener.AcceptAsync(s.Token).AsTask();
            try
            {
                await second.ConnectAsync(LabSession.UserTcpEndPoint(Port), StateTimeout).ConfigureAwait(false);
                s.Mark(LabSide.Kernel, "connect() succeeded", id);
                UserTcpConnection again = await acceptAgain.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
                await s.Delay(TimeSpan.FromMilliseconds(300)).ConfigureAwait(false);
                again.Abort();
            }
            catch (SocketException e)
            {
                s.Mark(LabSide.Kernel, $"connect() failed: {e.SocketErrorCode}", id);
            }
        }
        await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpCloses = r.Role == LabRole.UserTcpActive;
        LabSide closer = userTcpCloses ? LabSide.UserTcp : LabSide.Kernel, waiter = userTcpCloses ? LabSide.Kernel : LabSide.UserTcp;
        string closerName = userTcpCloses ? "UserTcp" : "the kernel", waiterName = userTcpCloses ? "the kernel" : "UserTcp";
        IReadOnlyList<StateSpan> closerStates = userTcpCloses ? r.UserTcpStates(c) : r.KernelStates(c);
        IReadOnlyList<StateSpan> waiterStates = userTcpCloses ? r.KernelStates(c) : r.UserTcpStates(c);

        // The old connection's close: the closer's final ACK is the one the link dropped.
        WirePacket? finalAck = FirstOf([.. r.PacketsOf(c).Where(p => p.Dropped)]);
        long overflow = userTcpCloses ? r.UserTcpCounter("TcpExtTCPTimeWaitOverflow") : r.KernelCounter("TcpExtTCPTimeWaitOverflow");
        // UserTcp's engine reports TIME-WAIT and leaves it in the same pass once its ACK is out (TcpCause.TimeWaitOverflow);
        // Linux's socket goes from FIN-WAIT to CLOSE without one (tcp_time_wait's tcp_done).
        TimeSpan inTimeWait = r.TimeIn(closerStates, "TIME-WAIT") ?? TimeSpan.Zero;
        v.Expect($"{closerName} closes first and keeps no TIME-WAIT: its final ACK goes, and it is CLOSED at once (TcpExtTCPTimeWaitOverflow counted)",
            finalAck is not null && inTimeWait <= TimeSpan.FromMilliseconds(1) && overflow >= 1,
            $"{LabRecord.Path(closerStates)}; {LabRecord.Milliseconds(inTimeWait)} in TIME-WAIT; TcpExtTCPTimeWaitOverflow {overflow}; the dropped segment: {(finalAck is null ? "none" : $"[{PacketFormatter.FlagLetters(finalAck.Segment.Flags)}]")}");

        // The new SYN: the closer's second SYN on the 4-tuple (the first opened the old connection).
        IReadOnlyList<WirePacket> syns = r.From(c, closer, p => p.Segment.Flags == TcpFlags.Syn);
        WirePacket? newSyn = syns.Count >= 2 ? syns[1] : null;
        string? stateAtSyn = newSyn is null ? null : StateAt(waiterStates, newSyn.ArrivedAt);
        // The kernel's table is sampled, and the whole close can pass between two samples (on a loaded machine it did): then
        // the wire shows LAST-ACK — the waiter's FIN acknowledged the closer's, and nothing acknowledging it reached the waiter.
        string? sampledNext = newSyn is null ? null : waiterStates.FirstOrDefault(sp => sp.At > newSyn.ArrivedAt)?.State;
        bool onWire = newSyn is not null && LastAckOnWire(r, c, closer, waiter, newSyn.ArrivedAt);
        bool inLastAck = stateAtSyn == "LAST-ACK" || (userTcpCloses && stateAtSyn != "(gone)" && (sampledNext == "LAST-ACK" || onWire));
        v.Expect($"the new SYN finds {waiterName} still in LAST-ACK", inLastAck,
            $"{waiterName} was in {stateAtSyn ?? "?"}{(stateAtSyn != "LAST-ACK" && sampledNext is not null ? $" as last sampled, {sampledNext} in the next sample" : "")}"
            + (stateAtSyn != "LAST-ACK" && onWire ? $"; on the wire, LAST-ACK: {waiterName}'s FIN acknowledged {closerName}'s and no ACK of it had arrived" : "")
            + $"; {LabRecord.Path(waiterStates)}");

        // The waiter's answer: the first segment it sent after the SYN reached it.
        WirePacket? answer = newSyn is null ? null : FirstOf(r.From(c, waiter, p => p.At >= newSyn.ArrivedAt && p.At - newSyn.ArrivedAt <= Answering));
        WirePacket? oldFin = FirstOf(r.From(c, closer, IsFin));
        SeqNumber? oldRcvNxt = oldFin is null ? null : oldFin.Segment.SequenceNumber + (int)oldFin.Segment.SegmentLength;
        bool challengeAck = answer is not null && answer.Segment.Flags == TcpFlags.Ack && answer.Segment.PayloadLength == 0
            && oldRcvNxt is SeqNumber n && answer.Segment.AcknowledgmentNumber == n;
        v.Expect($"{waiterName} answers the SYN with an ACK of the old connection (a challenge ACK, RFC 5961 §4; RFC 9293 §3.10.7.4) — not a RST, not a SYN-ACK",
            challengeAck, answer is null ? "no answer" : $"[{PacketFormatter.FlagLetters(answer.Segment.Flags)}] ack {Relative(answer.Segment.AcknowledgmentNumber, oldFin)}, {LabRecord.Milliseconds(answer.At - newSyn!.ArrivedAt)} after the SYN reached it");

        // The client in SYN-SENT finds that ACK unacceptable: RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.3).
        WirePacket? reset = answer is null ? null : FirstOf(r.From(c, closer, p => p.Segment.Has(TcpFlags.Rst) && p.At >= answer.ArrivedAt));
        bool resetAnswers = reset is not null && answer is not null && reset.At - answer.ArrivedAt <= Answering
            && reset.Segment.SequenceNumber == answer.Segment.AcknowledgmentNumber && !reset.Segment.Has(TcpFlags.Ack);
        v.Expect($"{closerName}, in SYN-SENT, answers that ACK with a RST whose sequence number is the ACK's acknowledgment number (RFC 9293 §3.10.7.3)",
            resetAnswers, reset is null ? "no RST" : $"[{PacketFormatter.FlagLetters(reset.Segment.Flags)}] {LabRecord.Milliseconds(reset.At - answer!.ArrivedAt)} after the ACK reached it");

        // The RST ends LAST-ACK (its sequence number is exactly RCV.NXT, RFC 5961 §3.2). Shown by the SYN sent again: LAST-ACK
        // would challenge it as it did the first, a listener answers it with a SYN-ACK. The kernel's table, sampled about every
        // millisecond by another clock, may still show LAST-ACK just after the RST, so its states are asked only to leave it.
        WirePacket? resent = syns.Count >= 3 ? syns[2] : null;
        WirePacket? synAck = resent is null ? null : FirstOf(r.From(c, waiter, p => p.Segment.Flags == (TcpFlags.Syn | TcpFlags.Ack) && p.At >= resent.ArrivedAt));
        StateSpan? left = reset is null ? null : waiterStates.FirstOrDefault(sp => sp.At > reset.ArrivedAt && sp.State != "LAST-ACK");
        v.Expect($"the RST ends {waiterName}'s LAST-ACK: the SYN sent again draws a SYN-ACK, not another challenge, and {waiterName} leaves LAST-ACK",
            synAck is not null && left is not null,
            reset is null ? "no RST"
                : $"{(synAck is null ? "no SYN-ACK to a SYN sent again" : "[S.] to the SYN sent again")}; {waiterName}'s next state other than LAST-ACK: "
                  + (left is null ? "none seen" : $"{left.State} at {LabRecord.Seconds(left.At)}"));

        // The client's SYN again: before any retransmission, Linux's SYN-SENT resends it TCP_TIMEOUT_MIN after such an ACK
        // ("Previous FIN/ACK or RST/ACK might be ignored", tcp_rcv_synsent_state_process), not at its initial RTO.
        TimeSpan? gap = resent is null || reset is null ? null : resent.At - reset.At;
        LabMark? outcome = r.Marks.LastOrDefault(m => m.Side == closer && m.What.StartsWith("connect() ", StringComparison.Ordinal) && !m.What.Contains("again", StringComparison.Ordinal) && !m.What.Contains("to port", StringComparison.Ordinal));
        v.Expect($"{closerName} resends its SYN soon after its RST (within {LabRecord.Milliseconds(SoonAfterReset)}, not at its initial RTO of {LabRecord.Seconds(InitialRto)}), and that SYN opens the new connection",
            gap is TimeSpan g && g <= SoonAfterReset && outcome?.What.Contains("succeeded", StringComparison.Ordinal) == true,
            (gap is TimeSpan g1 ? $"the SYN again {LabRecord.Milliseconds(g1)} after the RST; " : "no SYN again after a RST; ") + (outcome?.What ?? "-"));

        // What must not happen: a RST from the side in LAST-ACK (the seed's claim), or its FIN resent, before the new connection.
        TimeSpan until = resent?.ArrivedAt ?? r.End;
        int waiterResets = r.From(c, waiter, p => p.Segment.Has(TcpFlags.Rst) && p.At < until).Count;
        int finsAfterSyn = newSyn is null ? 0 : r.From(c, waiter, p => IsFin(p) && p.At >= newSyn.ArrivedAt).Count;
        v.Expect($"{waiterName} sends no RST and no FIN from the new SYN on, until the SYN that opens the new connection", waiterResets == 0 && finsAfterSyn == 0,
            $"{Count(waiterResets, "RST")} from {waiterName} before that SYN; {Count(finsAfterSyn, "FIN")} after the first new SYN");

        string observed = $"{Capitalized(closerName)} closed first and, keeping no TIME-WAIT, went {LabRecord.Path(closerStates)}; the link lost its final ACK, "
            + $"so {waiterName} stayed in LAST-ACK ({LabRecord.Path(waiterStates)}). {Capitalized(closerName)} connected again from the same port"
            + (answer is null ? $"; {waiterName} did not answer its SYN. " : $"; {waiterName}, in {(inLastAck ? "LAST-ACK" : stateAtSyn ?? "?")}, answered the SYN with [{PacketFormatter.FlagLetters(answer.Segment.Flags)}]"
                + (challengeAck ? " acknowledging the old connection's FIN — a challenge ACK" : "") + ". ")
            + (reset is null ? "" : $"{Capitalized(closerName)}, in SYN-SENT, took it for what it is — an ACK of nothing it sent — and answered with a RST, which ended LAST-ACK. ")
            + (gap is TimeSpan sg ? $"It resent its SYN {LabRecord.Milliseconds(sg)} after that RST — not at its initial RTO — and that SYN opened the new connection. " : "")
            + $"Outcome: {outcome?.What ?? "-"}. " + Sampling(r);
        bool disagrees = answer is not null && !answer.Segment.Has(TcpFlags.Rst) && waiterResets == 0;
        string why = disagrees
            ? $"{Capitalized(waiterName)} never sent a RST. A SYN reaching a connection in a synchronized state (LAST-ACK among them) is answered with an "
              + "ACK (RFC 5961 §4's challenge ACK, in RFC 9293 §3.10.7.4; RFC 793 sent a RST only for a SYN inside the window, which a new ISN "
              + "seldom is). It is the client that resets — the old connection, not the new one: the ACK acknowledges nothing it sent — and "
              + "it resends its SYN at once after that RST (Linux's tcp_rcv_synsent_state_process: \"Previous FIN/ACK or RST/ACK might be "
              + "ignored\"), so the new connection opens a round trip and a few milliseconds late. Here TIME-WAIT saves that, not a refused "
              + "connection; its other purpose, keeping the old connection's delayed segments out of a new one, this run does not test."
            : "The run shows the side in LAST-ACK resetting, as the seed says, or did not put the question.";
        return v.Build(this, r, observed, disagrees ? SeedAgreement.Disagrees : SeedAgreement.Agrees, why,
            Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    /// <summary>
    /// LAST-ACK as the wire shows it at <paramref name="at"/>: the waiter's FIN acknowledged the closer's FIN (RFC 9293
    /// §3.6: CLOSE-WAIT, then close), and no ACK of the waiter's FIN reached the waiter before then.
    /// </summary>
    private static bool LastAckOnWire(LabRecord r, FourTuple c, LabSide closer, LabSide waiter, TimeSpan at)
    {
        WirePacket? closerFin = FirstOf(r.From(c, closer, IsFin));
        WirePacket? waiterFin = FirstOf(r.From(c, waiter, IsFin));
        if (closerFin is null || waiterFin is null || waiterFin.At > at) return false;
        if (waiterFin.Segment.AcknowledgmentNumber != closerFin.Segment.SequenceNumber + (int)closerFin.Segment.SegmentLength) return false;
        SeqNumber finEnd = waiterFin.Segment.SequenceNumber + (int)waiterFin.Segment.SegmentLength;
        return !r.From(c, closer, p => !p.Dropped && p.ArrivedAt < at && p.Segment.Has(TcpFlags.Ack) && !p.Segment.Has(TcpFlags.Syn)
            && p.Segment.AcknowledgmentNumber >= finEnd).Any();
    }

    /// <summary>An acknowledgment number as the old FIN's sequence number plus so much ("FIN+1"), or raw without one.</summary>
    private static string Relative(SeqNumber ack, WirePacket? fin) => fin is null
        ? ack.Value.ToString(CultureInfo.InvariantCulture)
        : (ack - fin.Segment.SequenceNumber) switch { 1 => "the old FIN + 1", int d => $"the old FIN {(d >= 0 ? "+" : "")}{d}" };
}
