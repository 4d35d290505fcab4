using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>close-unread-rst: one side closes while data it never read is waiting; it resets instead of closing (RFC 2525 §2.17).</summary>
public sealed class CloseUnreadRst : LabScenario
{
    private const ushort Port = 5014;

    public override string Name => "close-unread-rst";

    public override string Question => "An application closes its socket while received data is still unread. Does a FIN go out, or a RST?";

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        byte[] data = new byte[100];
        if (s.Role == LabRole.UserTcpActive)
        {
            c.Kernel.Send(data);
            s.Mark(LabSide.Kernel, "send 100 bytes", c.Id);
            await s.UntilAsync(() => s.Engine.EventsOf(c.Id).Any(e => e.Kind == TcpEventKind.SegmentIn && e.Segment.PayloadLength > 0), StateTimeout).ConfigureAwait(false);
            await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "close() with 100 bytes unread", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
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
        else
        {
            await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "write 100 bytes", c.Id);
            await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false); // the data is in the kernel's receive queue
            s.Mark(LabSide.Kernel, "close() with 100 bytes unread", c.Id);
            c.Kernel.Close();
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
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpCloses = r.Role == LabRole.UserTcpActive;
        LabSide closer = userTcpCloses ? LabSide.UserTcp : LabSide.Kernel;
        string closerName = userTcpCloses ? "UserTcp" : "the kernel", otherName = userTcpCloses ? "the kernel" : "UserTcp";
        IReadOnlyList<WirePacket> resets = r.From(c, closer, p => p.Segment.Has(TcpFlags.Rst));
        IReadOnlyList<WirePacket> fins = r.From(c, closer, IsFin);
        LabMark? failed = r.Marks.FirstOrDefault(m => m.Side != closer && m.What.StartsWith("read() fails", StringComparison.Ordinal));
        v.Expect($"{closerName} sends a RST, not a FIN", resets.Count == 1 && fins.Count == 0, $"{resets.Count} RST, {fins.Count} FIN");
        v.Expect($"{otherName}'s next read fails with ECONNRESET", failed is not null && failed.What.Contains("ConnectionReset", StringComparison.Ordinal),
            failed?.What ?? string.Join("; ", r.Marks.Where(m => m.Side != closer).Select(m => m.What)));
        IReadOnlyList<StateSpan> other = userTcpCloses ? r.KernelStates(c) : r.UserTcpStates(c);
        v.Expect($"{otherName}'s connection is gone at once, no TIME-WAIT on either side", other.Count > 0 && other[^1].State is "(gone)" or "CLOSED"
            && !LabRecord.WasIn(r.KernelStates(c), "TIME-WAIT") && !LabRecord.WasIn(r.UserTcpStates(c), "TIME-WAIT"),
            $"{otherName}: {LabRecord.Path(other)}");
        string observed = $"{closerName} closed with 100 bytes it had not read and sent a RST at once instead of a FIN "
            + $"({(resets.Count > 0 ? $"[{PacketFormatter.FlagLetters(resets[0].Segment.Flags)}] at {LabRecord.Seconds(resets[0].At)}" : "none")}); "
            + $"{otherName}'s connection ended there ({LabRecord.Path(other)}) and its read reported {failed?.What ?? "nothing"}: the data "
            + $"it had sent was discarded, and it is told so rather than seeing a normal end of stream. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "");
    }
}
