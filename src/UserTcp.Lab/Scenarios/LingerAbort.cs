using System.Globalization;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// linger-abort: SO_LINGER with a zero timeout, the usual way to skip TIME-WAIT. The closer writes
/// <see cref="Size"/> bytes to a receiver whose small buffer fills (its application waits), so most of them are still
/// queued at the closer when it closes with linger 0: close() sends a RST instead of a FIN (RFC 9293 §3.10.4 ABORT),
/// throws the queued data away and leaves no TIME-WAIT. The receiver's application reads a second later: what had
/// arrived, then the reset. Role active: UserTcp aborts; passive: the kernel does.
/// </summary>
public sealed class LingerAbort : LabScenario
{
    private const ushort Port = 5073;
    public const int Size = 20_000;
    private const int ReceiveBuffer = 4096;
    /// <summary>How long the receiver's application waits after the abort before it reads.</summary>
    private static readonly TimeSpan ReadAfter = TimeSpan.FromSeconds(1);
    internal const string CloseMark = "SO_LINGER {on, 0 s}, close()";
    internal const string ResetRead = "ECONNRESET";

    public override string Name => "linger-abort";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp closes with SO_LINGER 0, the kernel receives"
        : "the kernel closes with SO_LINGER 0, UserTcp receives";

    public override string Question =>
        "A sender closes with SO_LINGER set to zero while data it wrote is still queued. What goes on the wire, does either side keep TIME-WAIT, and what becomes of the queued data and of the data the receiver has not read yet?";

    public override async Task RunAsync(LabSession s)
    {
        byte[] data = ZeroWindow.Pattern()[..Size];
        if (s.Role == LabRole.UserTcpActive)
        {
            LabConnection c = await s.OpenAsync(Port, kernelConnects: false, options: new UserTcpConnectionOptions { Linger = TimeSpan.Zero },
                kernelOptions: k => k.ReceiveBuffer(ReceiveBuffer)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"write {Size} bytes", c.Id);
            await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
            await WaitForShutWindowAsync(s, c).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, CloseMark, c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            await s.Delay(ReadAfter).ConfigureAwait(false);
            PeerThread<(int Bytes, SocketError Error)> reader = await PeerThread.StartAsync("lab kernel read", () => KernelReadsUntilError(c.Kernel), s.Token).ConfigureAwait(false);
            (int bytes, SocketError error) = await reader.Completion.ConfigureAwait(false);
            s.Mark(LabSide.Kernel, ReadOutcome(bytes, error), c.Id);
            return;
        }
        LabConnection k = await s.OpenAsync(Port, kernelConnects: true, options: new UserTcpConnectionOptions { ReceiveBufferSize = ReceiveBuffer },
            kernelOptions: socket => socket.SendBuffer(262_144)).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, $"send {Size} bytes", k.Id);
        k.Kernel.Send(data);
        await WaitForShutWindowAsync(s, k).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, CloseMark, k.Id);
        k.Kernel.Reset();
        await s.Delay(ReadAfter).ConfigureAwait(false);
        (int read, SocketError failure) = await UserTcpReadsUntilErrorAsync(s, k.UserTcp).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, ReadOutcome(read, failure), k.Id);
        await k.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
    }

    // The receiver's window shuts once its small buffer is full: then most of the data is still queued at the sender.
    private static Task<bool> WaitForShutWindowAsync(LabSession s, LabConnection c) =>
        s.UntilAsync(() => s.Wire.Packets.Any(p => LabRecord.Id(p) == c.Id && p.Segment.AdvertisesZeroWindow), StateTimeout);

    private static (int, SocketError) KernelReadsUntilError(KernelSocket kernel)
    {
        int total = 0;
        try
        {
            while (kernel.Read(StateTimeout) is { Length: > 0 } chunk) total += chunk.Length;
            return (total, SocketError.Success);
        }
        catch (SocketException e)
        {
            return (total, e.SocketErrorCode);
        }
    }

    private static async Task<(int, SocketError)> UserTcpReadsUntilErrorAsync(LabSession s, UserTcpConnection connection)
    {
        byte[] buffer = new byte[65536];
        int total = 0;
        try
        {
            int read;
            while ((read = await connection.ReadAsync(buffer, s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false)) > 0) total += read;
            return (total, SocketError.Success);
        }
        catch (SocketException e)
        {
            return (total, e.SocketErrorCode);
        }
    }

    // "; then a RST without ACK at 0.056 s: the answer to the segment UserTcp sent at 0.055 s, before the abort reached it, which arrived after the socket was gone".
    private static string ClosedPortAnswers(IReadOnlyList<WirePacket> answers, WirePacket? crossing) => answers.Count == 0 || crossing is null ? "" : string.Create(CultureInfo.InvariantCulture,
        $"; then {(answers.Count == 1 ? "a RST" : $"{answers.Count} RSTs")} without ACK at {LabRecord.Seconds(answers[0].At)}: the answer to the segment {(crossing.ToKernel ? "UserTcp" : "the kernel")} sent at {LabRecord.Seconds(crossing.At)}, before the abort reached it, which arrived after the socket was gone");

    private static string ReadOutcome(int bytes, SocketError error) => string.Create(CultureInfo.InvariantCulture,
        $"read {bytes} bytes, then {(error == SocketError.ConnectionReset ? $"read() = -1 {ResetRead}" : error == SocketError.Success ? "read() = 0" : $"read() failed: {error}")}");

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpAborts = r.Role == LabRole.UserTcpActive;
        LabSide closer = userTcpAborts ? LabSide.UserTcp : LabSide.Kernel, receiver = userTcpAborts ? LabSide.Kernel : LabSide.UserTcp;
        string closerName = userTcpAborts ? "UserTcp" : "the kernel", receiverName = userTcpAborts ? "the kernel" : "UserTcp";
        LabMark? close = r.Marks.FirstOrDefault(m => m.Side == closer && m.Connection == c && m.What == CloseMark);
        LabMark? read = r.Marks.FirstOrDefault(m => m.Side == receiver && m.Connection == c && m.What.StartsWith("read ", StringComparison.Ordinal));
        IReadOnlyList<WirePacket> fromCloser = r.From(c, closer);
        WirePacket? rst = fromCloser.FirstOrDefault(p => p.Segment.Has(TcpFlags.Rst));
        // A segment the receiver sent before the abort reached it may reach the closer after its socket is gone, which
        // answers it as any closed port does (RFC 9293 §3.10.7.1: RST, seq = SEG.ACK, no ACK flag): not close()'s doing.
        IReadOnlyList<WirePacket> beforeAbort = rst is null ? [] : r.From(c, receiver, p => p.At <= rst.ArrivedAt && p.Segment.Has(TcpFlags.Ack));
        WirePacket? crossing = beforeAbort.Count > 0 ? beforeAbort[^1] : null;
        IReadOnlyList<WirePacket> closedPortAnswers = rst is null || crossing is null ? [] : [.. fromCloser.Where(p => p.At > rst.At
            && p.Segment.Flags == TcpFlags.Rst && p.Segment.SequenceNumber == crossing.Segment.AcknowledgmentNumber)];
        IReadOnlyList<WirePacket> afterRst = rst is null ? [] : [.. fromCloser.Where(p => p.At > rst.At && !closedPortAnswers.Contains(p))];
        IReadOnlyList<WirePacket> answers = rst is null ? [] : r.From(c, receiver, p => p.At > rst.ArrivedAt);
        WirePacket[] data = [.. fromCloser.Where(p => p.Segment.PayloadLength > 0 && (rst is null || p.At <= rst.At))]; // what went before the abort
        SeqNumber? sndNxt = data.Length == 0 ? null : data.Select(p => p.Segment.SequenceNumber + p.Segment.PayloadLength).Aggregate((a, b) => a > b ? a : b);
        SeqNumbering numbering = r.Numbering(c);
        SeqNumber? closerIsn = numbering.IsnOf(closer);
        long sent = sndNxt is SeqNumber end && closerIsn is SeqNumber isn ? end - (isn + 1) : 0;
        string Relative(SeqNumber seq) => numbering.Of(closer, seq).ToString(CultureInfo.InvariantCulture);
        IReadOnlyList<StateSpan> states = userTcpAborts ? r.UserTcpStates(c) : r.KernelStates(c);
        // UserTcp's engine closes the connection as it queues the RST, before the batch is written: counted from close().
        TimeSpan? gone = close is null ? null : states.FirstOrDefault(x => x.At >= close.At && x.State is "CLOSED" or "(gone)")?.At;

        v.Expect($"{closerName}'s close() sends one RST and no FIN",
            close is not null && rst is not null && rst.At >= close.At && fromCloser.Count(p => p.Segment.Has(TcpFlags.Rst)) - closedPortAnswers.Count == 1 && !fromCloser.Any(IsFin),
            rst is null ? "no RST" : $"RST at {LabRecord.Seconds(rst.At)}{(fromCloser.Any(IsFin) ? "; a FIN too" : "")}{ClosedPortAnswers(closedPortAnswers, crossing)}");
        v.Expect("the RST carries the next sequence number to send (SND.NXT): the queued data is not counted as sent",
            rst is not null && sndNxt is SeqNumber nxt && rst.Segment.SequenceNumber == nxt,
            rst is null || sndNxt is null ? "no RST or no data" : $"RST seq {Relative(rst.Segment.SequenceNumber)}, SND.NXT {Relative(sndNxt.Value)}");
        v.Expect($"{closerName} keeps no TIME-WAIT: the connection is gone at once", gone is TimeSpan g && close is not null && g - close.At < TimeSpan.FromMilliseconds(50)
            && !LabRecord.WasIn(states, "TIME-WAIT"), $"{closerName}: {LabRecord.Path(states)}");
        v.Expect($"nothing more leaves {closerName}: the data still queued is thrown away, not sent", rst is not null && afterRst.Count == 0,
            $"{afterRst.Count} segments after the RST; {sent} of {Size} bytes had been sent");
        v.Expect($"{receiverName} does not answer the RST", rst is not null && answers.Count == 0, $"{answers.Count} segments from {receiverName} after it");
        v.Expect($"{receiverName}'s application still reads what had arrived, then the reset (ECONNRESET)",
            read is not null && read.What == ReadOutcome((int)Math.Min(sent, Size), SocketError.ConnectionReset) && sent > 0 && sent < Size,
            read?.What ?? "no read");

        string observed = $"{Capitalized(closerName)} wrote {Size} bytes to {receiverName}, whose application did not read (a receive buffer of {ReceiveBuffer} bytes), "
            + $"so {sent} had been sent when it closed with SO_LINGER {{on, 0 s}}{(close is null ? "" : $" at {LabRecord.Seconds(close.At)}")}. "
            + (rst is null ? "No RST went. " : $"close() sent a RST at {LabRecord.Seconds(rst.At)}, seq {Relative(rst.Segment.SequenceNumber)}, and no FIN; {afterRst.Count} segments followed it"
                + (userTcpAborts ? "" : $" (the kernel counted the abort as TcpExtTCPAbortOnData {r.KernelCounter("TcpExtTCPAbortOnData")})")
                + (closedPortAnswers.Count > 0 ? $"{ClosedPortAnswers(closedPortAnswers, crossing)}, as a closed port answers (RFC 9293 §3.10.7.1)" : "") + ". ")
            + $"{Capitalized(closerName)}: {LabRecord.Path(states)} — no TIME-WAIT. "
            + (read is null ? "" : $"{Capitalized(receiverName)}'s application, reading {LabRecord.Seconds(ReadAfter)} later: {read.What}. ")
            + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "");
    }
}
