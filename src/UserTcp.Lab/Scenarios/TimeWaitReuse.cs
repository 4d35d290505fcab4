using System.Net;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// time-wait-reuse: a connection is closed and its active closer sits in TIME-WAIT; then a new SYN arrives for the very
/// same 4-tuple (same addresses, same ports). Role active: UserTcp holds TIME-WAIT and the kernel reconnects from the
/// same port; passive: the kernel holds TIME-WAIT and UserTcp reconnects from the same port, with a higher ISN.
/// </summary>
public sealed class TimeWaitReuse : LabScenario
{
    private const ushort Port = 5013;
    private const ushort ClientPort = 40200;
    private uint _nextIsn;

    public override string Name => "time-wait-reuse";

    public override string Question =>
        "While one side holds a connection in TIME-WAIT, a SYN for the same 4-tuple arrives. Is the new connection refused, delayed, or accepted?";

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        TimeWait = full ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(8),
        // The passive role reconnects from the same port: one ephemeral port, and each connection's ISN above the last.
        EphemeralPortFirst = ClientPort,
        EphemeralPortLast = ClientPort,
        InitialSequenceNumber = _ => _nextIsn += 1_000_000_000,
    };

    public override async Task RunAsync(LabSession s)
    {
        if (s.Role == LabRole.UserTcpActive)
        {
            using UserTcpListener listener = s.Stack.Listen(Port);
            (KernelSocket first, UserTcpConnection accepted, FourTuple id) = await KernelConnectsFromAsync(s, listener, ClientPort, Port).ConfigureAwait(false);
            PeerThread<StreamEnd> kernel = await KernelReadsToEndThenClosesAsync(s, first).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "close()", id);
            await accepted.CloseAsync(s.Token).ConfigureAwait(false);
            StreamEnd end = await kernel.Completion.ConfigureAwait(false);
            s.Mark(LabSide.Kernel, "read() = 0, close()", id, end.ClosedAt ?? s.Now);
            first.Close();
            await s.UserTcpReachesAsync(id, TcpState.TimeWait, StateTimeout).ConfigureAwait(false);
            // The kernel's LAST-ACK ends with UserTcp's ACK, often between two samples of its table: give it a moment, no more.
            await s.Delay(TimeSpan.FromMilliseconds(300)).ConfigureAwait(false);
            KernelSocket second = s.Track(s.NewKernelSocket(new IPEndPoint(LabSession.KernelAddress, ClientPort)));
            s.Mark(LabSide.Kernel, $"connect() again from port {ClientPort}", id);
            Task<UserTcpConnection> acceptAgain = listener.AcceptAsync(s.Token).AsTask();
            try
            {
                await second.ConnectAsync(LabSession.UserTcpEndPoint(Port), StateTimeout).ConfigureAwait(false);
                s.Mark(LabSide.Kernel, "connect() succeeded", id);
            }
            catch (SocketException e)
            {
                s.Mark(LabSide.Kernel, $"connect() failed: {e.SocketErrorCode}", id);
            }
            // The protocol's answer is the handshake; whether the listener then hands the connection to the application is the runtime's.
            try
            {
                await acceptAgain.WaitAsync(TimeSpan.FromSeconds(2), s.Token).ConfigureAwait(false);
                s.Mark(LabSide.UserTcp, "accept() returned the new connection", id);
            }
            catch (TimeoutException)
            {
                s.Mark(LabSide.UserTcp, "accept() did not return the new connection within 2 s", id);
            }
        }
        else
        {
            using KernelSocket server = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, Port));
            var to = LabSession.KernelEndpoint(Port);
            UserTcpConnection first = await s.Stack.ConnectAsync(to, s.Token).ConfigureAwait(false);
            KernelSocket accepted = s.Track(await server.AcceptAsync(StateTimeout).ConfigureAwait(false));
            var id = new FourTuple(first.LocalEndpoint, first.RemoteEndpoint);
            s.Mark(LabSide.Kernel, "close()", id);
            accepted.Close();
            await first.ReadAsync(new byte[16], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "read() = 0, close()", id);
            await first.CloseAsync(s.Token).ConfigureAwait(false);
            await s.UserTcpReachesAsync(id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
            await s.Delay(TimeSpan.FromMilliseconds(300)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"connect() again, from port {ClientPort} (the kernel's socket is in TIME-WAIT)", id);
            try
            {
                Task<KernelSocket> acceptAgain = server.AcceptAsync(StateTimeout);
                UserTcpConnection second = await s.Stack.ConnectAsync(to, s.Token).WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
                s.Track(await acceptAgain.ConfigureAwait(false));
                s.Mark(LabSide.UserTcp, $"connect() succeeded from port {second.LocalEndpoint.Port}", id);
            }
            catch (SocketException e)
            {
                s.Mark(LabSide.UserTcp, $"connect() failed: {e.SocketErrorCode}", id);
            }
        }
        await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpHolds = r.Role == LabRole.UserTcpActive;
        LabSide holder = userTcpHolds ? LabSide.UserTcp : LabSide.Kernel, newcomer = userTcpHolds ? LabSide.Kernel : LabSide.UserTcp;
        string holderName = userTcpHolds ? "UserTcp" : "the kernel", newcomerName = userTcpHolds ? "the kernel" : "UserTcp";
        IReadOnlyList<WirePacket> syns = r.From(c, newcomer, p => p.Segment.Flags == TcpFlags.Syn);
        WirePacket? newSyn = syns.Count >= 2 ? syns[1] : null;
        IReadOnlyList<StateSpan> holderStates = userTcpHolds ? r.UserTcpStates(c) : r.KernelStates(c);
        string? stateAtSyn = newSyn is null ? null : StateAt(holderStates, newSyn.ArrivedAt);
        IReadOnlyList<WirePacket> answers = newSyn is null ? [] : r.From(c, holder, p => p.At >= newSyn.ArrivedAt);
        LabMark? outcome = r.Marks.LastOrDefault(m => m.Side == newcomer && m.What.StartsWith("connect() ", StringComparison.Ordinal) && !m.What.Contains("again", StringComparison.Ordinal));
        LabMark? accepted = r.Marks.LastOrDefault(m => m.What.StartsWith("accept()", StringComparison.Ordinal));
        v.Expect($"the new SYN finds {holderName} in TIME-WAIT on the same 4-tuple", stateAtSyn == "TIME-WAIT", $"{holderName} was in {stateAtSyn ?? "?"}");
        v.Expect("the new connection is established in the end", outcome?.What.Contains("succeeded", StringComparison.Ordinal) == true, outcome?.What ?? "-");
        string first = answers.Count == 0 ? "nothing" : $"[{PacketFormatter.FlagLetters(answers[0].Segment.Flags)}]";
        IReadOnlyList<WirePacket> resets = r.From(c, newcomer, p => newSyn is not null && p.At > newSyn.At && p.Segment.Has(TcpFlags.Rst));
        // What the newcomer had sent on the old connection, up to its FIN: a new SYN above it cannot be an old duplicate.
        IReadOnlyList<WirePacket> oldSent = newSyn is null ? [] : r.From(c, newcomer, p => p.At < newSyn.At && p.Segment.SegmentLength > 0);
        WirePacket? oldLast = oldSent.Count > 0 ? oldSent[^1] : null;
        bool above = newSyn is not null && oldLast is not null && newSyn.Segment.SequenceNumber - (oldLast.Segment.SequenceNumber + oldLast.Segment.SegmentLength) >= 0;
        string how = answers.Count > 0 && answers[0].Segment.Has(TcpFlags.Syn | TcpFlags.Ack)
            ? $"{holderName} accepted the SYN straight from TIME-WAIT and answered with a SYN-ACK: "
              + (above
                  ? "its sequence number was above the old connection's, so it cannot be an old duplicate (RFC 9293 §3.10.7.4 allows it; Linux does it)"
                  : "its sequence number was not above the old connection's, so only a newer timestamp could vouch for it (RFC 6191)")
            : $"{holderName} answered the SYN from TIME-WAIT with {first} — the ACK of the old connection — which {newcomerName}, in SYN-SENT, "
              + $"answered with {(resets.Count > 0 ? "a RST; the RST ended TIME-WAIT (RFC 1337's \"assassination\", as Linux allows by default) and the retransmitted SYN then opened the connection" : "nothing")}";
        string observed = $"The first connection closed with {holderName} as the active closer, in TIME-WAIT ({LabRecord.Path(holderStates)}). "
            + $"{char.ToUpperInvariant(newcomerName[0])}{newcomerName[1..]} then connected again from the same port to the same port. {char.ToUpperInvariant(how[0])}{how[1..]}. Outcome: {outcome?.What ?? "-"}"
            + (accepted is null ? "" : $"; UserTcp's application: {accepted.What}") + ". " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }
}
