using System.Globalization;
using System.Net;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// syn-rcvd: the client's final handshake ACK never reaches the server. The server sits in SYN-RECEIVED and retransmits
/// its SYN-ACK (each answered by an ACK the link loses) until it gives up; the client, ESTABLISHED since the SYN-ACK,
/// is left with a half-open connection. Role active: UserTcp is the server; passive: the kernel is.
/// </summary>
public sealed class SynReceived : LabScenario
{
    private const ushort Port = 5009;

    public override string Name => "syn-rcvd";

    // Nobody closes here: the roles are the handshake's.
    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp is the server, the kernel the client"
        : "the kernel is the server, UserTcp the client";

    public override string Question =>
        "The last ACK of the handshake is lost, every time. Is SYN-RECEIVED visible, how is the SYN-ACK retransmitted, and what is left on each side?";

    public override SeedClaim Seed => new("seed 001 (and 004)",
        "SYN_RCVD is a short-lived state, hard to see with netstat, unless a test program deliberately withholds the last ACK of the handshake.");

    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? ["drop from-kernel flags==ACK empty state=SYN-RECEIVED"]
        : [$"drop to-kernel flags==ACK empty port={Port}"];

    public override async Task RunAsync(LabSession s)
    {
        if (s.Role == LabRole.UserTcpActive)
        {
            using var listener = s.Stack.Listen(Port);
            KernelSocket client = s.Track(s.NewKernelSocket());
            s.Mark(LabSide.Kernel, "connect()");
            await client.ConnectAsync(LabSession.UserTcpEndPoint(Port), StateTimeout).ConfigureAwait(false);
            FourTuple? id = s.Engine.WaitForConnection(Port, StateTimeout);
            if (id is FourTuple c) await s.UserTcpReachesAsync(c, TcpState.Closed, TimeSpan.FromSeconds(s.Full ? 120 : 15)).ConfigureAwait(false);
        }
        else
        {
            using KernelSocket server = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, Port));
            s.Mark(LabSide.UserTcp, "connect()");
            var connection = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(Port), s.Token).ConfigureAwait(false);
            var id = new FourTuple(connection.LocalEndpoint, connection.RemoteEndpoint);
            s.Mark(LabSide.UserTcp, "connect() returned: ESTABLISHED", id);
            await s.KernelReachesAsync(id, null, TimeSpan.FromSeconds(s.Full ? 120 : 15)).ConfigureAwait(false);
        }
        await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpServes = r.Role == LabRole.UserTcpActive;
        LabSide server = userTcpServes ? LabSide.UserTcp : LabSide.Kernel, client = userTcpServes ? LabSide.Kernel : LabSide.UserTcp;
        IReadOnlyList<StateSpan> serverStates = userTcpServes ? r.UserTcpStates(c) : r.KernelStates(c);
        IReadOnlyList<StateSpan> clientStates = userTcpServes ? r.KernelStates(c) : r.UserTcpStates(c);
        Transmissions? synAck = r.SentWith(c, server, TcpFlags.Syn);
        int retries = userTcpServes ? r.UserTcpConfig.SynAckRetries
            : r.KernelSettings.TryGetValue("tcp_synack_retries", out string? sr) ? int.Parse(sr, CultureInfo.InvariantCulture) : 5;
        int acks = r.From(c, client, p => IsPureAck(p) && p.Dropped).Count;
        (int challenges, string counted) = ChallengeAcks(r, c, kernelClient: userTcpServes, Math.Max(0, acks - 1));
        string serverName = userTcpServes ? "UserTcp" : "the kernel", clientName = userTcpServes ? "the kernel" : "UserTcp";
        v.Expect($"the server ({serverName}) is seen in SYN-RECEIVED", LabRecord.WasIn(serverStates, "SYN-RECEIVED"), LabRecord.Path(serverStates));
        v.Expect($"it retransmits its SYN-ACK {retries} times with backoff (SYN-ACK retries)", synAck is not null && synAck.Retransmissions == retries
            && (synAck.Intervals.Count < 2 || TimerBacksOff(r, c, server, synAck).BacksOff),
            synAck is null ? "no SYN-ACK" : $"{synAck.Describe()}; {TimerBacksOff(r, c, server, synAck).Observed}");
        v.Expect($"the client ({clientName}) is ESTABLISHED from the first SYN-ACK and answers each one with an ACK the link loses",
            LabRecord.WasIn(clientStates, "ESTABLISHED") && acks >= (synAck?.Times.Count ?? 99),
            $"{LabRecord.Path(clientStates)}; {acks} ACKs lost{(challenges > 0 ? $": {Answers(acks, challenges)} ({counted})" : "")}");
        v.Expect("the server gives up and forgets the connection; the client is left half-open, still ESTABLISHED",
            serverStates.Count > 0 && serverStates[^1].State is "CLOSED" or "(gone)" && clientStates.Count > 0 && clientStates[^1].State == "ESTABLISHED",
            $"server: {LabRecord.Path(serverStates)}; client: {LabRecord.Path(clientStates)}");
        TimeSpan? inSynReceived = r.TimeIn(serverStates, "SYN-RECEIVED");
        string observed = $"{clientName} sent its SYN, got the SYN-ACK and went ESTABLISHED at once; its ACK never arrived, so {serverName} stayed in "
            + $"SYN-RECEIVED for {(inSynReceived is TimeSpan t ? LabRecord.Seconds(t) : "?")} ({LabRecord.Path(serverStates)}), retransmitting its "
            + $"SYN-ACK: {synAck?.Describe() ?? "none"} (gaps {(synAck is null ? "-" : Intervals(synAck))}). "
            + (challenges > 0
                ? $"{Capitalized(clientName)} answered each: {Answers(acks, challenges)}, all lost — to a client already ESTABLISHED a repeated SYN-ACK "
                  + $"is a SYN on a synchronized connection, which draws a challenge ACK (RFC 5961 §4; {counted}). "
                : $"{Capitalized(clientName)} answered each with an ACK ({acks}, all lost). ")
            + $"Then {serverName} gave up and dropped the half-made connection without a word, and {clientName} was left "
            + "holding an ESTABLISHED connection no one is on the other end of — a half-open connection that only sending will reveal. " + Sampling(r);
        bool agrees = LabRecord.WasIn(serverStates, "SYN-RECEIVED") && inSynReceived >= TimeSpan.FromSeconds(1);
        return v.Build(this, r, observed, agrees ? SeedAgreement.Agrees : SeedAgreement.Disagrees,
            agrees ? "As the seed says: normally a blink, SYN-RECEIVED lasts for seconds when the last ACK is withheld, and the socket table shows it (ss: SYN-RECV)."
                   : "The run did not show a lasting SYN-RECEIVED.",
            Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    /// <summary>
    /// How many of the client's <paramref name="later"/> ACKs after its handshake's were challenge ACKs, as the client
    /// itself counted them: the kernel's TcpExtTCPChallengeACK (the namespace holds this connection alone), or UserTcp's
    /// engine's drops of a SYN on a synchronized connection (each answered by a challenge ACK, TcpConnection.ChallengeSyn);
    /// with the count in words. Never more than the ACKs seen.
    /// </summary>
    internal static (int Challenges, string Counted) ChallengeAcks(LabRecord r, FourTuple c, bool kernelClient, int later)
    {
        if (kernelClient)
        {
            long sent = r.KernelCounter("TcpExtTCPChallengeACK");
            return ((int)Math.Min(sent, later), $"the kernel counted TCPChallengeACK +{sent}, TCPSYNChallenge +{r.KernelCounter("TcpExtTCPSYNChallenge")}");
        }
        int dropped = r.Events.Count(e => e.Kind == TcpEventKind.Dropped && e.Connection == c && e.Segment.Flags.HasFlag(TcpFlags.Syn)
            && e.Cause is TcpCause.SynInSynchronizedState or TcpCause.OutsideWindow);
        return (Math.Min(dropped, later), $"UserTcp's engine dropped {dropped} SYN-ACK(s) with a challenge ACK");
    }

    // "the handshake's ACK, then 2 challenge ACKs".
    private static string Answers(int acks, int challenges)
    {
        int plain = acks - 1 - challenges;
        return $"the handshake's ACK, then {challenges} challenge ACK{(challenges == 1 ? "" : "s")}{(plain > 0 ? $" and {plain} other ACK{(plain == 1 ? "" : "s")}" : "")}";
    }
}
