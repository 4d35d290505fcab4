using System.Diagnostics;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fin-with-ack: the passive side's application closes as soon as it reads the end of the stream, within its delayed-ACK
/// time, so its FIN carries the ACK of the active closer's FIN: FIN-WAIT-1 goes straight to TIME-WAIT.
/// </summary>
public sealed class FinWithAck : LabScenario
{
    private const ushort Port = 5005;
    // Tries in all when the passive application closes too late (see FinAttempt.ClosedLate).
    private const int Attempts = 3;
    // How the passive application's close is marked (and found again by Judge).
    private const string PassiveCloses = "read() = 0, close()";
    // How long a deliberately slow passive application holds its socket after read() = 0: past any delayed-ACK time.
    private static readonly TimeSpan SlowHold = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// How many first attempts have a deliberately slow passive application (it closes 300 ms after read() = 0), to show
    /// what a late close does to the run; none in the catalog's instance.
    /// </summary>
    public int SlowAttempts { get; init; }

    public override string Name => "fin-with-ack";

    public override string Question =>
        "The passive side closes the moment it reads the end of the stream. Does the active closer go from FIN-WAIT-1 straight to TIME-WAIT?";

    public override SeedClaim Seed => new("seed 001 (and 002, 004)",
        "A side in FIN_WAIT_1 that receives a segment carrying both FIN and ACK goes directly to TIME_WAIT, skipping FIN_WAIT_2.");

    public override async Task RunAsync(LabSession s)
    {
        // The question presumes the passive application closes within its delayed-ACK time; on a busy machine it may wake
        // too late, and that is scheduling, not TCP: such an attempt is repeated on a fresh connection (Judge takes the first good one).
        for (int attempt = 1; attempt <= Attempts; attempt++)
        {
            TimeSpan hold = attempt <= SlowAttempts ? SlowHold : TimeSpan.Zero;
            FourTuple c = s.Role == LabRole.UserTcpActive ? await UserTcpClosesFirstAsync(s, hold).ConfigureAwait(false) : await KernelClosesFirstAsync(s, hold).ConfigureAwait(false);
            if (!FinAttempt.Of(c, s.Role, s.Wire.Packets, s.Marks, s.Engine.Events).ClosedLate) break;
        }
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
    }

    private static async Task<FourTuple> UserTcpClosesFirstAsync(LabSession s, TimeSpan hold)
    {
        // The kernel waits in poll() on a thread of its own and closes the moment the FIN arrives, inside its delayed-ACK
        // time. The reply comes after a little data, as from a server that answers and closes: a connection that has carried
        // no data yet is still in Linux's quick-ACK mode and acknowledges a FIN at once (see delayed-fin-ack).
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        PeerThread<StreamEnd> kernel = await KernelReadsToEndThenClosesAsync(s, c.Kernel, hold).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        await c.UserTcp.WriteAsync("reply\r\n"u8.ToArray(), s.Token).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, "write 7 bytes, close()", c.Id);
        await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        if ((await kernel.Completion.ConfigureAwait(false)).ClosedAt is TimeSpan closed) s.Mark(LabSide.Kernel, CloseMark(hold), c.Id, closed);
        await s.UserTcpReachesAsync(c.Id, TcpState.TimeWait, StateTimeout).ConfigureAwait(false);
        return c.Id;
    }

    private static async Task<FourTuple> KernelClosesFirstAsync(LabSession s, TimeSpan hold)
    {
        // The kernel sends a request and closes, as a client does: after data UserTcp, like Linux, delays the ACK of
        // the FIN (before any data both acknowledge it within a jiffy, see delayed-fin-ack).
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        c.Kernel.Send("request\r\n"u8.ToArray());
        int request = await c.UserTcp.ReadAsync(new byte[64], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, $"read() = {request}", c.Id);
        PeerThread<TimeSpan?> application = await UserTcpClosesAtEndAsync(s, c.UserTcp, hold).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, "write 9 bytes, close()", c.Id);
        c.Kernel.Close();
        if (await application.Completion.ConfigureAwait(false) is TimeSpan closed) s.Mark(LabSide.UserTcp, CloseMark(hold), c.Id, closed);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
        return c.Id;
    }

    // UserTcp's application on a thread of its own: it watches its pending read and closes the moment that returns 0 (an
    // await continuation would wait for the thread pool, which a busy machine delays past UserTcp's delayed-ACK time).
    private static Task<PeerThread<TimeSpan?>> UserTcpClosesAtEndAsync(LabSession s, UserTcpConnection connection, TimeSpan hold) =>
        PeerThread.StartAsync<TimeSpan?>("lab UserTcp application", () =>
        {
            ValueTask<int> reading = connection.ReadAsync(new byte[64], s.Token);
            long start = Stopwatch.GetTimestamp();
            while (!reading.IsCompleted && Stopwatch.GetElapsedTime(start) < StateTimeout) Thread.Sleep(1);
            if (!reading.IsCompleted || reading.Result != 0) return null;
            if (hold > TimeSpan.Zero) Thread.Sleep(hold);
            connection.CloseAsync(s.Token).AsTask().GetAwaiter().GetResult();
            return s.Now;
        }, s.Token);

    private static string CloseMark(TimeSpan hold) =>
        PassiveCloses + (hold > TimeSpan.Zero ? $" {LabRecord.Milliseconds(hold)} later (slow on purpose)" : " at once");

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        string activeName = userTcpActive ? "UserTcp" : "the kernel", passiveName = userTcpActive ? "the kernel" : "UserTcp";
        IReadOnlyList<FinAttempt> attempts = [.. r.Connections.Select(c => FinAttempt.Of(c, r.Role, r.Packets, r.Marks, r.Events))];
        IReadOnlyList<FinAttempt> late = [.. attempts.TakeWhile(a => a.ClosedLate)];
        FinAttempt? judged = late.Count < attempts.Count ? attempts[late.Count] : null;
        string lateText = string.Join("; ", late.Select((a, i) => a.Describe(i + 1)));
        v.Expect($"{passiveName}'s application closes before its ACK of the FIN goes out (the question's premise; up to {Attempts} attempts)", judged is not null,
            (late.Count > 0 ? lateText + "; " : "") + (judged?.Describe(late.Count + 1) ?? (attempts.Count == 0 ? "no connection" : $"none of the {attempts.Count} closed in time")));
        if (judged is null)
        {
            string none = $"In {(attempts.Count == 1 ? "the one attempt" : $"all {attempts.Count} attempts")}, {passiveName}'s application closed only after its "
                + $"delayed ACK of {activeName}'s FIN had gone out alone ({lateText}): the application's timing (a busy machine runs it late), not TCP's, "
                + $"kept its FIN from carrying the ACK, so the question was never put. {activeName}: {string.Join("; ", attempts.Select(a => LabRecord.Path(States(r, a.Connection))))}. " + Sampling(r);
            return v.Build(this, r, none, SeedAgreement.Inconclusive,
                "The claim is about a FIN that carries the ACK; none reached the active closer in FIN-WAIT-1, so this run neither confirms nor refutes it.");
        }

        FourTuple c = judged.Connection;
        IReadOnlyList<StateSpan> active = States(r, c);
        WirePacket? activeFin = judged.Fin, first = judged.Answer;
        bool combined = first is not null && first.Segment.Has(TcpFlags.Fin | TcpFlags.Ack);
        v.Expect($"the first segment from {passiveName} that acknowledges the FIN is its own FIN", combined,
            first is null ? "no answer" : $"[{PacketFormatter.FlagLetters(first.Segment.Flags)}] {LabRecord.Milliseconds(first.At - activeFin!.ArrivedAt)} after the FIN");
        // The kernel's FIN-WAIT-1 lasts as long as the passive side holds its ACK, often less than a sample: the segments prove it.
        // Linux enters FIN-WAIT-2 on that segment's ACK and TIME-WAIT on its FIN, in one tcp_rcv_state_process, and its socket
        // table is read without the socket's lock: a rare sample inside that processing sees FIN-WAIT-2, after the segment
        // arrived and straight before TIME-WAIT. Only a FIN-WAIT-2 before it, or not ended by TIME-WAIT, is a stop there.
        StateSpan? transient = userTcpActive || first is null ? null : TransientFinWait2(active, first.ArrivedAt);
        bool direct = (userTcpActive ? SimultaneousClose.ContainsInOrder(active, "FIN-WAIT-1", "TIME-WAIT") : LabRecord.WasIn(active, "TIME-WAIT"))
            && (!LabRecord.WasIn(active, "FIN-WAIT-2") || transient is not null);
        v.Expect($"{activeName} goes to TIME-WAIT without FIN-WAIT-2{(userTcpActive ? "" : " (as sampled)")}", direct, LabRecord.Path(active));
        string delay = first is null || activeFin is null ? "?" : LabRecord.Milliseconds(first.At - activeFin.ArrivedAt);
        string retried = late.Count == 0 ? "" : $"Attempt {late.Count + 1} of up to {Attempts}: before it, {passiveName}'s application closed too late — after its "
            + $"delayed ACK had gone alone ({lateText}), the application's timing (a busy machine runs it late), not TCP's — so the exchange was repeated "
            + "on a fresh connection. ";
        string observed = retried + $"{char.ToUpperInvariant(passiveName[0])}{passiveName[1..]} answered {activeName}'s FIN {delay} later with a single segment carrying its own FIN and the ACK "
            + $"(it had held the ACK back — a delayed ACK — and its application closed meanwhile). {activeName}: {LabRecord.Path(active)}. "
            + (userTcpActive ? "" : transient is null
                ? "Linux passes through FIN-WAIT-2 inside the processing of that one segment, too briefly for a sample to see it. "
                : $"Linux passes through FIN-WAIT-2 inside the processing of that one segment, and a read of its socket table (which takes no socket lock) "
                  + $"caught it there, {LabRecord.Milliseconds(transient.At - first!.ArrivedAt)} after the segment arrived and straight before TIME-WAIT: no wait in FIN-WAIT-2. ")
            + Sampling(r);
        string why = direct && combined
            ? "As the seeds say: a FIN that also acknowledges the active closer's FIN takes it from FIN-WAIT-1 to TIME-WAIT directly."
            : "The run did not show the direct FIN-WAIT-1 → TIME-WAIT transition.";
        return v.Build(this, r, observed, direct && combined ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why);
    }

    /// <summary>
    /// The kernel's sampled FIN-WAIT-2 when it was seen only inside the processing of the passive side's FIN+ACK: stamped
    /// at or after that segment arrived (a sample is stamped after its read) and followed at once by TIME-WAIT; else null.
    /// </summary>
    private static StateSpan? TransientFinWait2(IReadOnlyList<StateSpan> spans, TimeSpan finAckArrived)
    {
        List<int> at = [.. Enumerable.Range(0, spans.Count).Where(i => spans[i].State == "FIN-WAIT-2")];
        if (at.Count != 1) return null;
        int i = at[0];
        return spans[i].At >= finAckArrived && i + 1 < spans.Count && spans[i + 1].State == "TIME-WAIT" ? spans[i] : null;
    }

    private static IReadOnlyList<StateSpan> States(LabRecord r, FourTuple c) => r.Role == LabRole.UserTcpActive ? r.UserTcpStates(c) : r.KernelStates(c);

    /// <summary>One try on one connection: the active closer's FIN, the passive side's first segment acknowledging it, and when the passive application closed.</summary>
    private sealed record FinAttempt(FourTuple Connection, WirePacket? Fin, WirePacket? Answer, TimeSpan? PassiveClosed)
    {
        /// <summary>
        /// The premise failed: the FIN's first acknowledgment was a lone ACK sent before the passive application's close, so its
        /// delayed ACK ran out before the application ran. An ACK sent by or after the close is TCP's doing, and judged.
        /// </summary>
        public bool ClosedLate => Answer is not null && !Answer.Segment.Has(TcpFlags.Fin) && PassiveClosed is TimeSpan closed && closed > Answer.At;

        public static FinAttempt Of(FourTuple c, LabRole role, IEnumerable<WirePacket> packets, IEnumerable<LabMark> marks, IEnumerable<TcpEvent> events)
        {
            bool userTcpActive = role == LabRole.UserTcpActive;
            List<WirePacket> mine = [.. packets.Where(p => LabRecord.Id(p) == c)];
            WirePacket? fin = mine.FirstOrDefault(p => p.ToKernel == userTcpActive && IsFin(p));
            // The first segment that acknowledges the FIN (an ACK of earlier data may come between).
            WirePacket? answer = fin is null ? null : mine.FirstOrDefault(p => p.ToKernel != userTcpActive && p.At >= fin.ArrivedAt && p.Segment.Has(TcpFlags.Ack)
                && p.Segment.AcknowledgmentNumber == fin.Segment.SequenceNumber + fin.Segment.PayloadLength + 1);
            // The kernel's close is stamped on its thread right after close(2) returned (close never sends a lone ACK first);
            // UserTcp's is its engine's exact instant of the close, so an ACK the close itself sent counts as after it.
            TimeSpan? closed = userTcpActive
                ? marks.FirstOrDefault(m => m.Connection == c && m.Side == LabSide.Kernel && m.What.StartsWith(PassiveCloses, StringComparison.Ordinal))?.At
                : events.Where(e => e.Connection == c && e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.LastAck).Select(e => (TimeSpan?)e.Time).FirstOrDefault();
            return new FinAttempt(c, fin, answer, closed);
        }

        /// <summary>"attempt 1: lone ACK 43.8 ms after the FIN, close() 68.2 ms after it".</summary>
        public string Describe(int number)
        {
            string answer = Answer is null || Fin is null ? "no answer" : $"[{PacketFormatter.FlagLetters(Answer.Segment.Flags)}] {LabRecord.Milliseconds(Answer.At - Fin.ArrivedAt)} after the FIN";
            string closed = PassiveClosed is TimeSpan at && Fin is not null ? $"close() {LabRecord.Milliseconds(at - Fin.ArrivedAt)} after it" : "no close()";
            return $"attempt {number}: {answer}, {closed}";
        }
    }
}
