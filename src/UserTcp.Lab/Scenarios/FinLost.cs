using System.Globalization;
using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fin-lost: the close's first two steps, each lost once, on a connection of its own. First the closer's FIN is lost:
/// the closer stays in FIN-WAIT-1 and sends it again on a timer, while the other side, told nothing, stays ESTABLISHED
/// and sends nothing. Then the other side's ACK of the FIN is lost, its application closing <see cref="Hold"/> later:
/// the closer, hearing nothing, sends its FIN again; the other side, already in CLOSE-WAIT, answers the copy with an ACK
/// (RFC 9293 §3.10.7.4: a duplicate is acknowledged), and the closer moves on to FIN-WAIT-2. The closer connects, so
/// the other side's only pure ACK before its own FIN is the ACK of the FIN. Role active: UserTcp closes first.
/// </summary>
public sealed class FinLost : LabScenario
{
    internal const ushort FinPort = 5042, AckPort = 5043;
    /// <summary>How long the other side's application waits after reading the end of the stream before it closes (second part).</summary>
    internal static readonly TimeSpan Hold = TimeSpan.FromSeconds(1);

    public override string Name => "fin-lost";

    public override string Question =>
        "The close's first step, the closer's FIN, is lost; then, on another connection, its second, the ACK of the FIN. What does each side do, in which state, and who sends again?";

    public override IReadOnlyList<string> Faults(LabRole role)
    {
        (string fromCloser, string fromOther) = role == LabRole.UserTcpActive ? ("to-kernel", "from-kernel") : ("from-kernel", "to-kernel");
        return [string.Create(CultureInfo.InvariantCulture, $"drop {fromCloser} flags=FIN port={FinPort} nth=1"),
            string.Create(CultureInfo.InvariantCulture, $"drop {fromOther} flags==ACK empty port={AckPort} nth=1")];
    }

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpCloses = s.Role == LabRole.UserTcpActive;
        LabConnection first = await s.OpenAsync(FinPort, kernelConnects: !userTcpCloses).ConfigureAwait(false);
        await CloseInTurnAsync(s, first).ConfigureAwait(false);
        await s.UserTcpReachesAsync(first.Id, userTcpCloses ? TcpState.TimeWait : TcpState.Closed, StateTimeout).ConfigureAwait(false);

        LabConnection second = await s.OpenAsync(AckPort, kernelConnects: !userTcpCloses).ConfigureAwait(false);
        string held = string.Create(CultureInfo.InvariantCulture, $"read() = 0; close() {Hold.TotalSeconds:0.#} s later");
        if (userTcpCloses)
        {
            PeerThread<StreamEnd> kernel = await KernelReadsToEndThenClosesAsync(s, second.Kernel, Hold).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "close()", second.Id);
            await second.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            if ((await kernel.Completion.ConfigureAwait(false)).ClosedAt is TimeSpan closed) s.Mark(LabSide.Kernel, held, second.Id, closed);
        }
        else
        {
            s.Mark(LabSide.Kernel, "close()", second.Id);
            second.Kernel.Close();
            int read = await second.UserTcp.ReadAsync(new byte[64], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            if (read == 0)
            {
                s.Mark(LabSide.UserTcp, "read() = 0", second.Id);
                await s.Delay(Hold).ConfigureAwait(false);
                s.Mark(LabSide.UserTcp, "close()", second.Id);
                await second.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            }
        }
        await s.UserTcpReachesAsync(second.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        FourTuple finPart = r.Connections.FirstOrDefault(c => c.Local.Port == FinPort || c.Remote.Port == FinPort);
        FourTuple ackPart = r.Connections.FirstOrDefault(c => c.Local.Port == AckPort || c.Remote.Port == AckPort);
        string observed = string.Join(" ", FinLostJudge.FinPart(r, finPart, v), FinLostJudge.AckPart(r, ackPart, v), Sampling(r));
        IReadOnlyList<FourTuple> both = [.. new[] { finPart, ackPart }.Where(c => c != default)];
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "",
            [.. both.SelectMany(c => Schedule(r, c, LabSide.Kernel))], [.. both.SelectMany(c => Schedule(r, c, LabSide.UserTcp))]);
    }
}
