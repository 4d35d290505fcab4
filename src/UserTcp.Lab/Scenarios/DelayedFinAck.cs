using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// delayed-fin-ack (seed 003 asks): does the receiver of a FIN acknowledge it at once, or delay the ACK hoping to send
/// its own FIN with it? Measured three times: on a connection that carried no data, after the FIN's receiver got data,
/// and after it sent data. The receiving application holds its socket for 300 ms, so nothing but the ACK answers the FIN.
/// </summary>
public sealed class DelayedFinAck : LabScenario
{
    private static readonly ushort[] Ports = [5015, 5016, 5017];
    private static readonly string[] Cases = ["no data before the FIN", "after receiving 100 bytes", "after sending 100 bytes"];
    private static readonly TimeSpan Hold = TimeSpan.FromMilliseconds(300);
    // The engine's delay for the ACK of a FIN that came before any data (AckTimeout.Jiffy: its ato is still 0).
    private static readonly TimeSpan FirstFinAckDelay = TimeSpan.FromMilliseconds(1);

    public override string Name => "delayed-fin-ack";

    public override string Question =>
        "When a FIN arrives and the application does not close at once, is the FIN acknowledged at once or after a delay? How long?";

    public override SeedClaim Seed => new("seed 003 (a question, not a claim)",
        "Asks whether the ACK of a FIN can be delayed (\"FIN会延迟ACK吗\"), which would keep the closer in FIN-WAIT-1 longer.");

    public override async Task RunAsync(LabSession s)
    {
        for (int i = 0; i < Ports.Length; i++)
        {
            LabConnection c = await s.OpenAsync(Ports[i]).ConfigureAwait(false);
            byte[] data = new byte[100];
            bool userTcpCloses = s.Role == LabRole.UserTcpActive;
            // Case 1: the FIN's receiver got data first; case 2: it sent data first.
            if ((i == 1) == userTcpCloses && i > 0)
            {
                await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
                byte[]? got = await KernelReadAsync(s, c.Kernel, StateTimeout).ConfigureAwait(false);
                s.Mark(LabSide.Kernel, $"read() = {got?.Length ?? 0}", c.Id);
            }
            else if (i > 0)
            {
                c.Kernel.Send(data);
                int got = await c.UserTcp.ReadAsync(new byte[200], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
                s.Mark(LabSide.UserTcp, $"read() = {got}", c.Id);
            }
            await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
            if (userTcpCloses)
            {
                s.Mark(LabSide.UserTcp, "close()", c.Id);
                await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
                await s.Delay(Hold).ConfigureAwait(false);
                s.Mark(LabSide.Kernel, "close(), 300 ms after the FIN", c.Id);
                c.Kernel.Close();
            }
            else
            {
                s.Mark(LabSide.Kernel, "close()", c.Id);
                c.Kernel.Close();
                await s.Delay(Hold).ConfigureAwait(false);
                s.Mark(LabSide.UserTcp, "close(), 300 ms after the FIN", c.Id);
                await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            }
            await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        }
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpCloses = r.Role == LabRole.UserTcpActive;
        LabSide closer = userTcpCloses ? LabSide.UserTcp : LabSide.Kernel, receiver = userTcpCloses ? LabSide.Kernel : LabSide.UserTcp;
        string receiverName = userTcpCloses ? "the kernel" : "UserTcp";
        var delays = new List<TimeSpan?>();
        for (int i = 0; i < Ports.Length; i++)
        {
            FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == Ports[i]);
            WirePacket? fin = FirstOf(r.From(c, closer, IsFin));
            WirePacket? ack = fin is null ? null : FirstOf(r.From(c, receiver, p => p.At >= fin.ArrivedAt && p.Segment.Has(TcpFlags.Ack)
                && p.Segment.AcknowledgmentNumber == fin.Segment.SequenceNumber + fin.Segment.PayloadLength + 1));
            delays.Add(ack is null ? null : ack.At - fin!.ArrivedAt);
        }
        TimeSpan bound = TimeSpan.FromMilliseconds(250);
        v.Expect($"{receiverName} acknowledges every FIN, within the delayed-ACK bound (200 ms)", delays.All(d => d is TimeSpan t && t < bound),
            string.Join("; ", delays.Select((d, i) => $"{Cases[i]}: {Show(d)}")));
        if (userTcpCloses)
        {
            v.Expect("the kernel delays the ACK of a FIN at least once (≥ 20 ms)", delays.Any(d => d >= HeldAtLeast),
                string.Join("; ", delays.Select(Show)));
        }
        else
        {
            // Judged on the engine's own timer (the link's times add the scheduling delay of a busy machine). Before any data
            // was received the delay is a jiffy (1 ms), as Linux's: its delayed-ACK time (ato) is still 0 then.
            TimeSpan configured = r.UserTcpConfig.DelayedAck;
            TimeSpan[] expected = [FirstFinAckDelay, configured, FirstFinAckDelay];
            var armed = Ports.Select(port => r.Connections.FirstOrDefault(x => x.Local.Port == port))
                .Select(c => r.Events.Where(e => e.Connection == c && e.Kind == TcpEventKind.TimerSet && e.Timer == TcpTimer.DelayedAck)
                    .Select(e => (TimeSpan?)(e.Deadline - e.Time)).LastOrDefault(d => d is not null && r.Events.Any(x => x.Connection == c && x.Kind == TcpEventKind.StateChanged && x.NewState == TcpState.CloseWait))).ToList();
            v.Expect($"UserTcp holds the ACK for its delayed-ACK time ({LabRecord.Milliseconds(configured)}) after data, a jiffy before",
                armed.Select((d, i) => d == expected[i]).All(ok => ok)
                && delays.Select((d, i) => d >= expected[i] - TimeSpan.FromMilliseconds(2)).All(ok => ok),
                $"timer armed for {string.Join("; ", armed.Select(Show))}; seen on the link after {string.Join("; ", delays.Select(Show))}");
        }
        string table = string.Join("; ", delays.Select((d, i) => $"{Cases[i]}: {Show(d)}"));
        string observed = $"{receiverName} acknowledged the FIN after — {table}. "
            + (userTcpCloses
                ? $"It held the ACK back in {HeldBack(delays)}: Linux puts a socket that receives a FIN into delayed-ACK (ping-pong) mode, "
                  + "expecting the application to answer with its own FIN, and then holds the ACK for its delayed-ACK time (40 ms at the least); "
                  + "a connection still in quick-ACK mode (early in its life) acknowledges at once. "
                : "UserTcp delays the ACK of a FIN after data by its delayed-ACK time, as Linux does, so an application that closes at once "
                  + "sends one FIN+ACK; when it has received no data, as Linux, only by a jiffy. ")
            + "While the ACK is held back, the closer stays in FIN-WAIT-1. " + Sampling(r);
        bool delayed = delays.Any(d => d >= HeldAtLeast);
        string why = delayed
            ? "The seed only asks; the run answers yes: the ACK of a FIN can be delayed, by tens of milliseconds, which is why FIN-WAIT-1 can be seen."
            : "The run saw no delayed ACK of a FIN.";
        return v.Build(this, r, observed, delayed ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why);
    }

    // An ACK this late was held back by a delayed-ACK timer (Linux's is 40 ms at the least), not sent at once.
    private static readonly TimeSpan HeldAtLeast = TimeSpan.FromMilliseconds(20);

    /// <summary>"1 of the 3 cases (after receiving 100 bytes: 42.1 ms)", or "none of the 3 cases".</summary>
    private static string HeldBack(List<TimeSpan?> delays)
    {
        string[] held = [.. delays.Select((d, i) => (d, i)).Where(x => x.d >= HeldAtLeast).Select(x => $"{Cases[x.i]}: {Show(x.d)}")];
        return held.Length == 0 ? $"none of the {delays.Count} cases" : $"{held.Length} of the {delays.Count} cases ({string.Join("; ", held)})";
    }

    private static string Show(TimeSpan? delay) => delay is TimeSpan d ? string.Create(CultureInfo.InvariantCulture, $"{d.TotalMilliseconds:0.0} ms") : "no ACK";
}
