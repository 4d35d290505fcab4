using UserTcp.Engine;
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

    public override string Name => "fin-with-ack";

    public override string Question =>
        "The passive side closes the moment it reads the end of the stream. Does the active closer go from FIN-WAIT-1 straight to TIME-WAIT?";

    public override SeedClaim Seed => new("seed 001 (and 002, 004)",
        "A side in FIN_WAIT_1 that receives a segment carrying both FIN and ACK goes directly to TIME_WAIT, skipping FIN_WAIT_2.");

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            // The kernel waits in poll(); it closes the moment the FIN arrives, inside its delayed-ACK time. The reply comes
            // after a little data, as from a server that answers and closes: a connection that has carried no data yet is
            // still in Linux's quick-ACK mode and acknowledges a FIN at once (see delayed-fin-ack).
            Task<(byte[] Data, bool Ended)> reading = Task.Run(() => c.Kernel.ReadToEnd(StateTimeout), s.Token);
            await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
            await c.UserTcp.WriteAsync("reply\r\n"u8.ToArray(), s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "write 7 bytes, close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            if ((await reading.ConfigureAwait(false)).Ended)
            {
                c.Kernel.Close();
                s.Mark(LabSide.Kernel, "read() = 0, close() at once", c.Id);
            }
            await s.UserTcpReachesAsync(c.Id, TcpState.TimeWait, StateTimeout).ConfigureAwait(false);
        }
        else
        {
            // The kernel sends a request and closes, as a client does: after data UserTcp, like Linux, delays the ACK of
            // the FIN (before any data both acknowledge it within a jiffy, see delayed-fin-ack).
            c.Kernel.Send("request\r\n"u8.ToArray());
            int request = await c.UserTcp.ReadAsync(new byte[64], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read() = {request}", c.Id);
            ValueTask<int> reading = c.UserTcp.ReadAsync(new byte[64], s.Token);
            await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, "write 9 bytes, close()", c.Id);
            c.Kernel.Close();
            if (await reading.AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false) == 0)
            {
                await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
                s.Mark(LabSide.UserTcp, "read() = 0, close() at once", c.Id);
            }
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
        }
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        IReadOnlyList<StateSpan> active = userTcpActive ? r.UserTcpStates(c) : r.KernelStates(c);
        LabSide activeSide = userTcpActive ? LabSide.UserTcp : LabSide.Kernel, passiveSide = userTcpActive ? LabSide.Kernel : LabSide.UserTcp;
        WirePacket? activeFin = FirstOf(r.From(c, activeSide, IsFin));
        // The first segment that acknowledges the FIN (an ACK of earlier data may come between).
        IReadOnlyList<WirePacket> answers = activeFin is null ? [] : r.From(c, passiveSide, p => p.At >= activeFin.At
            && p.Segment.Has(TcpFlags.Ack) && p.Segment.AcknowledgmentNumber == activeFin.Segment.SequenceNumber + activeFin.Segment.PayloadLength + 1);
        WirePacket? first = FirstOf(answers);
        bool combined = first is not null && first.Segment.Has(TcpFlags.Fin | TcpFlags.Ack);
        string activeName = userTcpActive ? "UserTcp" : "the kernel", passiveName = userTcpActive ? "the kernel" : "UserTcp";
        v.Expect($"the first segment from {passiveName} that acknowledges the FIN is its own FIN", combined,
            first is null ? "no answer" : $"[{PacketFormatter.FlagLetters(first.Segment.Flags)}] {LabRecord.Milliseconds(first.At - activeFin!.At)} after the FIN");
        // The kernel's FIN-WAIT-1 lasts as long as the passive side holds its ACK, often less than a sample: the segments prove it.
        bool direct = (userTcpActive ? SimultaneousClose.ContainsInOrder(active, "FIN-WAIT-1", "TIME-WAIT") : LabRecord.WasIn(active, "TIME-WAIT"))
            && !LabRecord.WasIn(active, "FIN-WAIT-2");
        v.Expect($"{activeName} goes to TIME-WAIT without FIN-WAIT-2{(userTcpActive ? "" : " (as sampled)")}", direct, LabRecord.Path(active));
        string delay = first is null || activeFin is null ? "?" : LabRecord.Milliseconds(first.At - activeFin.At);
        string observed = $"{passiveName} answered {activeName}'s FIN {delay} later with a single segment carrying its own FIN and the ACK "
            + $"(it had held the ACK back — a delayed ACK — and its application closed meanwhile). {activeName}: {LabRecord.Path(active)}. "
            + (userTcpActive ? "" : "Linux passes through FIN-WAIT-2 inside the processing of that one segment, so no sample can see it. ")
            + Sampling(r);
        string why = direct && combined
            ? "As the seeds say: a FIN that also acknowledges the active closer's FIN takes it from FIN-WAIT-1 to TIME-WAIT directly."
            : "The run did not show the direct FIN-WAIT-1 → TIME-WAIT transition.";
        return v.Build(this, r, observed, direct && combined ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why);
    }
}
