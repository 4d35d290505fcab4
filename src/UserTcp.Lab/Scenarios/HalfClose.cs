using System.Globalization;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// half-close: one side shuts down its sending side (a FIN) and goes on reading; the other keeps sending for two
/// seconds, ten chunks of a kilobyte, and only then closes. Data flows one way in FIN-WAIT-2 / CLOSE-WAIT.
/// </summary>
public sealed class HalfClose : LabScenario
{
    private const ushort Port = 5006;
    private const int Chunks = 10, ChunkSize = 1000;
    private static readonly TimeSpan Gap = TimeSpan.FromMilliseconds(200);

    public override string Name => "half-close";

    public override string Question =>
        "One side sends its FIN with shutdown(SHUT_WR) and keeps reading. Can the other side go on sending after it, and for how long?";

    public override SeedClaim Seed => new("seed 004 (and 002, 003)",
        "FIN_WAIT_2 is a half-connection: the side that closed can no longer send, but the other side still can, and it closes later.");

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        byte[] chunk = new byte[ChunkSize];
        if (s.Role == LabRole.UserTcpActive)
        {
            s.Mark(LabSide.UserTcp, "shutdown(SHUT_WR)", c.Id);
            c.UserTcp.Shutdown(SocketShutdown.Send);
            Task<long> reading = UserTcpReadsToEndAsync(s, c.UserTcp, bufferSize: 8192);
            for (int i = 0; i < Chunks; i++)
            {
                await s.Delay(Gap).ConfigureAwait(false);
                c.Kernel.Send(chunk);
            }
            s.Mark(LabSide.Kernel, string.Create(CultureInfo.InvariantCulture, $"sent {Chunks} × {ChunkSize} bytes, close()"), c.Id);
            c.Kernel.Close();
            await reading.ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "read() = 0, close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        }
        else
        {
            s.Mark(LabSide.Kernel, "shutdown(SHUT_WR)", c.Id);
            c.Kernel.ShutdownSend();
            PeerThread<StreamEnd> kernel = await KernelReadsToEndThenClosesAsync(s, c.Kernel).ConfigureAwait(false);
            for (int i = 0; i < Chunks; i++)
            {
                await s.Delay(Gap).ConfigureAwait(false);
                await c.UserTcp.WriteAsync(chunk, s.Token).ConfigureAwait(false);
            }
            s.Mark(LabSide.UserTcp, string.Create(CultureInfo.InvariantCulture, $"sent {Chunks} × {ChunkSize} bytes, close()"), c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            StreamEnd end = await kernel.Completion.ConfigureAwait(false);
            if (end.ClosedAt is TimeSpan closed) s.Mark(LabSide.Kernel, string.Create(CultureInfo.InvariantCulture, $"read {end.Bytes} bytes, then 0: close()"), c.Id, closed);
            c.Kernel.Close();
        }
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    // The sequence space the segments' data covered, relative to the first (wrap-safe): a retransmitted chunk, however
    // it is cut, counts once.
    private static long Covered(List<WirePacket> segments)
    {
        if (segments.Count == 0) return 0;
        SeqNumber origin = segments.Select(p => p.Segment.SequenceNumber).Aggregate(SeqNumber.Min);
        long covered = 0, end = long.MinValue;
        foreach ((long start, long stop) in segments.Select(p => ((long)(p.Segment.SequenceNumber - origin), (long)(p.Segment.SequenceNumber - origin) + p.Segment.PayloadLength)).OrderBy(x => x.Item1))
        {
            if (stop <= end) continue;
            covered += stop - Math.Max(start, end);
            end = stop;
        }
        return covered;
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        LabSide closer = userTcpActive ? LabSide.UserTcp : LabSide.Kernel, sender = userTcpActive ? LabSide.Kernel : LabSide.UserTcp;
        WirePacket? fin = FirstOf(r.From(c, closer, IsFin));
        IReadOnlyList<WirePacket> after = fin is null ? [] : r.From(c, sender, p => p.At > fin.ArrivedAt && p.Segment.PayloadLength > 0);
        long bytes = Covered(after.Where(p => !p.Dropped).ToList());
        int resent = after.Count - after.Select(p => p.Segment.SequenceNumber).Distinct().Count();
        TimeSpan span = after.Count > 0 ? after[^1].At - fin!.ArrivedAt : TimeSpan.Zero;
        IReadOnlyList<StateSpan> closerStates = userTcpActive ? r.UserTcpStates(c) : r.KernelStates(c);
        IReadOnlyList<StateSpan> senderStates = userTcpActive ? r.KernelStates(c) : r.UserTcpStates(c);
        v.Expect("all the data sent after the FIN arrives", bytes == Chunks * ChunkSize, $"{bytes} bytes in {after.Count} segments after the FIN{(resent > 0 ? $" ({resent} of them retransmissions)" : "")}");
        v.Expect("data keeps flowing for seconds after the FIN", span >= Gap * (Chunks - 1), $"the last data segment {LabRecord.Seconds(span)} after the FIN");
        v.Expect("the closer waits in FIN-WAIT-2 meanwhile, the sender in CLOSE-WAIT",
            LabRecord.WasIn(closerStates, "FIN-WAIT-2") && LabRecord.WasIn(senderStates, "CLOSE-WAIT"),
            $"closer: {LabRecord.Path(closerStates)}; sender: {LabRecord.Path(senderStates)}");
        v.Expect("the closer sends no data after its FIN", r.From(c, closer, p => fin is not null && p.At > fin.At && p.Segment.PayloadLength > 0).Count == 0,
            "only ACKs from the closer after its FIN");
        string closerName = userTcpActive ? "UserTcp" : "the kernel", senderName = userTcpActive ? "the kernel" : "UserTcp";
        string observed = $"{closerName} sent its FIN with shutdown(SHUT_WR) and went to FIN-WAIT-2 ({LabRecord.Path(closerStates)}); {senderName}, in "
            + $"CLOSE-WAIT, went on sending: {bytes} bytes in {after.Count} segments{(resent > 0 ? $" ({resent} of them retransmissions)" : "")} over {LabRecord.Seconds(span)} after the FIN, each acknowledged, "
            + $"then closed ({LabRecord.Path(senderStates)}). " + Sampling(r);
        bool agrees = bytes == Chunks * ChunkSize && LabRecord.WasIn(closerStates, "FIN-WAIT-2");
        string why = agrees
            ? "As the seed says: after a FIN only that direction is closed; the other side sends for as long as it likes and closes when done."
            : "The run did not show data flowing after the FIN.";
        return v.Build(this, r, observed, agrees ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why);
    }
}
