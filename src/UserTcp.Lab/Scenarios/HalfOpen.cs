using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// half-open: one side loses its connection without the other hearing of it (it resets, and the link loses the RST).
/// The other side still thinks it is ESTABLISHED. It finds out when it next sends (data draws a RST), and, on a second
/// connection that stays idle, when its keepalive probe draws one.
/// </summary>
public sealed class HalfOpen : LabScenario
{
    private const ushort DataPort = 5007, IdlePort = 5008;
    private static readonly TimeSpan KeepAliveIdle = TimeSpan.FromSeconds(1);

    public override string Name => "half-open";

    // Nobody closes here: one side forgets.
    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp forgets its connections, the kernel keeps them"
        : "the kernel forgets its connections, UserTcp keeps them";

    public override string Question =>
        "One side loses its connection state and the other is not told. What does the other side see, and when does it find out: "
        + "when it sends, and when it is idle with keepalive on?";

    public override SeedClaim Seed => new("seed 003 (quoting Stephen Cleary)",
        "A half-open connection is one where one side knows the connection is lost and the other believes it is still open; the "
        + "other side can only find out by sending — a side that only waits to receive waits for ever.");

    // The first two RSTs are the ones that make the connections half-open; the later ones (the answers) get through.
    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? ["drop to-kernel flags=RST nth=1..2"]
        : ["drop from-kernel flags=RST nth=1..2"];

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        KeepAliveIdle = KeepAliveIdle,
        KeepAliveInterval = TimeSpan.FromSeconds(1),
        KeepAliveCount = 3,
    };

    public override async Task RunAsync(LabSession s)
    {
        LabConnection data = await s.OpenAsync(DataPort).ConfigureAwait(false);
        LabConnection idle = await s.OpenAsync(IdlePort, options: new UserTcpConnectionOptions { KeepAlive = s.Role == LabRole.UserTcpPassive }).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            // UserTcp forgets both; the kernel keeps them.
            idle.Kernel.KeepAlive(KeepAliveIdle, TimeSpan.FromSeconds(1), 3);
            s.Mark(LabSide.UserTcp, "abort() (its RST is lost)", data.Id);
            data.UserTcp.Abort();
            s.Mark(LabSide.UserTcp, "abort() (its RST is lost)", idle.Id);
            idle.UserTcp.Abort();
            await s.Delay(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, "send 10 bytes", data.Id);
            data.Kernel.Send(new byte[10]);
            s.Mark(LabSide.Kernel, "read()", data.Id);
            await ReadKernel(s, data).ConfigureAwait(false);
            // The idle connection: keepalive after 1 s of silence.
            await s.KernelReachesAsync(idle.Id, null, TimeSpan.FromSeconds(6)).ConfigureAwait(false);
        }
        else
        {
            s.Mark(LabSide.Kernel, "close() with SO_LINGER 0 (its RST is lost)", data.Id);
            data.Kernel.Reset();
            s.Mark(LabSide.Kernel, "close() with SO_LINGER 0 (its RST is lost)", idle.Id);
            idle.Kernel.Reset();
            await s.Delay(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "write 10 bytes", data.Id);
            await data.UserTcp.WriteAsync(new byte[10], s.Token).ConfigureAwait(false);
            await ReadUserTcp(s, data).ConfigureAwait(false);
            await s.UserTcpReachesAsync(idle.Id, TcpState.Closed, TimeSpan.FromSeconds(6)).ConfigureAwait(false);
        }
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
    }

    private static async Task ReadKernel(LabSession s, LabConnection c)
    {
        try
        {
            byte[]? read = await KernelReadAsync(s, c.Kernel, StateTimeout).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, read is null ? "read(): nothing" : $"read() = {read.Length}", c.Id);
        }
        catch (SocketException e)
        {
            s.Mark(LabSide.Kernel, $"read() fails: {e.SocketErrorCode}", c.Id);
        }
    }

    private static async Task ReadUserTcp(LabSession s, LabConnection c)
    {
        try
        {
            int read = await c.UserTcp.ReadAsync(new byte[64], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read() = {read}", c.Id);
        }
        catch (SocketException e)
        {
            s.Mark(LabSide.UserTcp, $"read() fails: {e.SocketErrorCode}", c.Id);
        }
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpForgets = r.Role == LabRole.UserTcpActive;
        FourTuple data = r.Connections.FirstOrDefault(c => c.Local.Port == DataPort), idle = r.Connections.FirstOrDefault(c => c.Local.Port == IdlePort);
        LabSide forgetter = userTcpForgets ? LabSide.UserTcp : LabSide.Kernel, survivor = userTcpForgets ? LabSide.Kernel : LabSide.UserTcp;
        string survivorName = userTcpForgets ? "the kernel" : "UserTcp", forgetterName = userTcpForgets ? "UserTcp" : "the kernel";
        IReadOnlyList<StateSpan> dataSurvivor = userTcpForgets ? r.KernelStates(data) : r.UserTcpStates(data);
        IReadOnlyList<StateSpan> idleSurvivor = userTcpForgets ? r.KernelStates(idle) : r.UserTcpStates(idle);

        WirePacket? sent = FirstOf(r.From(data, survivor, p => p.Segment.PayloadLength > 0));
        WirePacket? answer = sent is null ? null : FirstOf(r.From(data, forgetter, p => p.At >= sent.ArrivedAt && p.Segment.Has(TcpFlags.Rst)));
        LabMark? failed = r.Marks.FirstOrDefault(m => m.Side == survivor && m.Connection == data && m.What.StartsWith("read() fails", StringComparison.Ordinal));
        v.Expect($"until it sends, {survivorName} still holds the connection as ESTABLISHED",
            sent is not null && ScenarioKit.StateAt(dataSurvivor, sent.At - TimeSpan.FromMilliseconds(1)) == "ESTABLISHED", LabRecord.Path(dataSurvivor));
        v.Expect($"its data draws a RST from {forgetterName}", answer is not null,
            answer is null ? "no RST" : $"RST {LabRecord.Milliseconds(answer.At - sent!.ArrivedAt)} after the data");
        v.Expect($"{survivorName}'s connection is reset (ECONNRESET)", failed is not null && failed.What.Contains("ConnectionReset", StringComparison.Ordinal)
            && dataSurvivor.Count > 0 && dataSurvivor[^1].State is "(gone)" or "CLOSED", $"{failed?.What ?? "no failed read"}; {LabRecord.Path(dataSurvivor)}");

        WirePacket? probe = FirstOf(r.From(idle, survivor, p => p.Segment.PayloadLength <= 1 && (p.Segment.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0
            && p.At > (r.Marks.FirstOrDefault(m => m.Connection == idle && m.Side == forgetter)?.At ?? TimeSpan.Zero)));
        WirePacket? probeAnswer = probe is null ? null : FirstOf(r.From(idle, forgetter, p => p.At >= probe.ArrivedAt && p.Segment.Has(TcpFlags.Rst)));
        TimeSpan forgotAt = r.Marks.FirstOrDefault(m => m.Connection == idle && m.Side == forgetter)?.At ?? TimeSpan.Zero;
        // Idle time counts from the last segment the connection carried (the lost RST carried nothing to the survivor).
        TimeSpan lastActivity = probe is null ? TimeSpan.Zero
            : r.PacketsOf(idle).Where(p => p.At < probe.At && !p.Dropped).Select(p => p.At).DefaultIfEmpty(TimeSpan.Zero).Max();
        v.Expect($"on the idle connection, {survivorName}'s keepalive probe goes out after the idle time ({LabRecord.Seconds(KeepAliveIdle)}) with no answer",
            probe is not null && probe.At - lastActivity >= KeepAliveIdle * 0.8,
            probe is null ? "no probe" : $"probe [{PacketFormatter.FlagLetters(probe.Segment.Flags)}] seq {r.Numbering(idle).Seq(probe)} {LabRecord.Seconds(probe.At - lastActivity)} after the connection's last segment");
        v.Expect("the probe draws a RST, and the idle connection ends", probeAnswer is not null && idleSurvivor.Count > 0 && idleSurvivor[^1].State is "(gone)" or "CLOSED",
            $"{(probeAnswer is null ? "no RST" : "RST")}; {LabRecord.Path(idleSurvivor)}");

        string observed = $"{forgetterName} dropped both connections and the link lost its RSTs, so {survivorName} went on holding them as "
            + $"ESTABLISHED. On the first, {survivorName} sent 10 bytes {(sent is null ? "" : $"at {LabRecord.Seconds(sent.At)}")}; {forgetterName}, "
            + $"with no such connection, answered with a RST {(answer is null ? "(none seen)" : $"{LabRecord.Milliseconds(answer.At - sent!.ArrivedAt)} later")}, "
            + $"and {survivorName}'s read reported {failed?.What ?? "nothing"}. The second stayed idle: {survivorName}'s keepalive probe "
            + $"(SEG.SEQ = SND.NXT − 1, as Linux sends it) went out {(probe is null ? "never" : $"{LabRecord.Seconds(probe.At - lastActivity)} after the connection's last segment")} and drew "
            + $"a RST too ({LabRecord.Path(idleSurvivor)}). Without sending, and without keepalive, the survivor would have waited indefinitely. " + Sampling(r);
        bool agrees = answer is not null;
        return v.Build(this, r, observed, agrees ? SeedAgreement.Agrees : SeedAgreement.Disagrees,
            agrees ? "As the seed says: the surviving side only learns by sending — data, or a keepalive probe, which is sending on a timer."
                   : "The run did not show the RST that ends a half-open connection.");
    }
}
