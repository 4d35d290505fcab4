using System.Globalization;
using System.Net;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fast-open: TCP Fast Open (RFC 7413) when the SYN that carries the request is lost. One client opens five connections
/// to one server in a row, each sending a 100-byte request and reading a 100-byte answer: the first asks for a cookie;
/// the second puts its request in the SYN and the server takes it from there; the third and the fourth do the same, and
/// the link loses both of those SYNs; the fifth shows whether the client still uses Fast Open after two losses in a
/// row. Role passive: the kernel is the client
/// (TCP_FASTOPEN_CONNECT) and UserTcp the server; active: UserTcp the client and the kernel the server (TCP_FASTOPEN).
/// Both ends have Fast Open on: net.ipv4.tcp_fastopen=3 in the run's namespace, and UserTcp's
/// <see cref="TcpConfig.FastOpen"/> with its client and server bits. Linux's rules, read in net/ipv4/tcp_fastopen.c,
/// tcp_output.c and tcp_input.c: the SYN-data goes as a copy and a plain SYN stays queued, so a retransmitted SYN carries
/// neither the data nor the option, and the data follows the handshake; a SYN-ACK without a Fast Open option after a
/// retransmission counts a SYN loss for that server in its tcp_metrics entry (tcp_fastopen_cache_set; `ip tcp_metrics`
/// shows it as fo_syn_drops), and a Fast Open that succeeds sets the count back to zero. Linux's Fast Open client as it came
/// (3.7) then left Fast Open off to a server after two losses in a row (60 s shifted left by the losses, in
/// tcp_fastopen_cookie_check); today's kernel still counts but reads the count nowhere — this run was built expecting the old rule, and the
/// kernel (6.18 here) went on with Fast Open.
/// </summary>
public sealed class FastOpen : LabScenario
{
    private const ushort Port = 5042;
    /// <summary>How many connections the client opens, one after another.</summary>
    public const int Connections = 5;
    public const int RequestSize = 100, AnswerSize = 100;
    /// <summary>The SYNs carrying data that the link loses, counted among those the client sends: the third connection's and the fourth's.</summary>
    internal const string LostSynData = "2..3";

    public override string Name => "fast-open";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp is the Fast Open client, the kernel the server"
        : "the kernel is the Fast Open client, UserTcp the server";

    public override string Question =>
        "A TCP Fast Open client puts its request in the SYN, and the link loses that SYN. What does the client send again — "
        + "the SYN with the data, or without? When does the server get the request, and does the client go on using Fast Open?";

    public override IReadOnlyList<string> Faults(LabRole role)
    {
        string toServer = role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel";
        return [$"drop {toServer} flags=SYN data port={Port} nth={LostSynData}"];
    }

    /// <summary>The lab's knobs, and Fast Open on for the kernel as client and as server (TFO_CLIENT_ENABLE | TFO_SERVER_ENABLE).</summary>
    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(LabDefaults.KernelSettings(full)) { ["tcp_fastopen"] = "3" };

    /// <summary>The lab's timers, and Fast Open as client and server, every listener with a Fast Open queue (TFO_SERVER_WO_SOCKOPT1).</summary>
    public override TcpConfig UserTcpConfig(LabRole role, bool full) => LabDefaults.UserTcpConfig(full) with
    {
        FastOpen = FastOpenFlags.Client | FastOpenFlags.Server | FastOpenFlags.ServerWithoutSocketOption,
    };

    public override Task RunAsync(LabSession s) => s.Role == LabRole.UserTcpActive ? UserTcpClientAsync(s) : KernelClientAsync(s);

    // The request of connection n: its number, then filler, so a request in the wrong connection shows.
    private static byte[] Request(int n) => [.. Enumerable.Range(0, RequestSize).Select(i => (byte)(i == 0 ? n : 'q'))];

    private static async Task KernelClientAsync(LabSession s)
    {
        using UserTcpListener listener = s.Stack.Listen(Port);
        var server = LabSession.UserTcpEndPoint(Port);
        for (int n = 1; n <= Connections; n++)
        {
            KernelSocket client = s.Track(s.NewKernelSocket());
            client.FastOpenConnect();
            TimeSpan called = s.Now;
            // With a cookie cached connect() returns at once and send() carries the SYN; a blocking send() whose SYN is lost
            // waits for the handshake, so the client's calls run on a thread of their own.
            await client.ConnectAsync(server, StateTimeout).ConfigureAwait(false);
            TimeSpan connected = s.Now;
            byte[] request = Request(n);
            PeerThread<StreamEnd> kernel = await PeerThread.StartAsync("lab kernel client", () =>
            {
                client.Send(request);
                return client.ReadToEndThenClose(StateTimeout, () => s.Now);
            }, s.Token).ConfigureAwait(false);
            UserTcpConnection accepted = await listener.AcceptAsync(s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            var id = new FourTuple(accepted.LocalEndpoint, accepted.RemoteEndpoint);
            s.Mark(LabSide.Kernel, $"connection {n}: connect() with TCP_FASTOPEN_CONNECT", id, called);
            s.Mark(LabSide.Kernel, $"connect() returned, send() {RequestSize} bytes", id, connected);
            await ServeAsync(s, accepted, id).ConfigureAwait(false);
            StreamEnd end = await kernel.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read {end.Bytes} bytes{(end.Ended ? " and the FIN, close()" : "")}", id, end.ClosedAt ?? s.Now);
            await s.UntilAsync(() => accepted.State is TcpState.TimeWait or TcpState.Closed, StateTimeout).ConfigureAwait(false);
            if (n == Connections - 1) MarkKernelCache(s, $"before connection {Connections}");
        }
    }

    /// <summary>The kernel's Fast Open cache entry for UserTcp's address (`ip tcp_metrics show`), as a mark on the kernel's side.</summary>
    private static void MarkKernelCache(LabSession s, string when)
    {
        ToolOutcome shown = IpTool.Run(TimeSpan.FromSeconds(10), "-n", s.Namespace.Name, "tcp_metrics", "show", LabSession.UserTcpAddress.ToString());
        string entry = string.Join(' ', shown.Output.Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
        s.Mark(LabSide.Kernel, shown.Succeeded ? $"ip tcp_metrics {when}: {(entry.Length > 0 ? entry : "no entry")}" : $"ip tcp_metrics not read: {shown.Describe()}");
    }

    // UserTcp as the server: reads the whole request (noting the state its connection is in), answers, closes.
    private static async Task ServeAsync(LabSession s, UserTcpConnection connection, FourTuple id)
    {
        byte[] buffer = new byte[RequestSize];
        int total = 0, read;
        string stateAtFirstRead = "";
        while (total < RequestSize && (read = await connection.ReadAsync(buffer.AsMemory(total), s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false)) > 0)
        {
            if (total == 0) stateAtFirstRead = connection.State.ToRfcName();
            total += read;
        }
        s.Mark(LabSide.UserTcp, $"accept(), read() {total} bytes (the request came in {stateAtFirstRead})", id);
        s.Mark(LabSide.UserTcp, $"write {AnswerSize} bytes, close()", id);
        await connection.WriteAsync(new byte[AnswerSize], s.Token).ConfigureAwait(false);
        await connection.CloseAsync(s.Token).ConfigureAwait(false);
    }

    private static async Task UserTcpClientAsync(LabSession s)
    {
        using KernelSocket listener = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, Port));
        listener.FastOpen(16);
        var server = LabSession.KernelEndpoint(Port);
        var options = new UserTcpConnectionOptions { FastOpenConnect = true };
        for (int n = 1; n <= Connections; n++)
        {
            Task<KernelSocket> accepting = listener.AcceptAsync(StateTimeout);
            TimeSpan called = s.Now;
            UserTcpConnection client = await s.Stack.ConnectAsync(server, options, s.Token).WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            var id = new FourTuple(client.LocalEndpoint, client.RemoteEndpoint);
            s.Mark(LabSide.UserTcp, $"connection {n}: connect() with FastOpenConnect", id, called);
            s.Mark(LabSide.UserTcp, $"connect() returned, write {RequestSize} bytes", id);
            await client.WriteAsync(Request(n), s.Token).ConfigureAwait(false);
            KernelSocket accepted = s.Track(await accepting.WaitAsync(s.Token).ConfigureAwait(false));
            PeerThread<int> kernel = await PeerThread.StartAsync("lab kernel server", () =>
            {
                int got = 0;
                while (got < RequestSize && accepted.Read(StateTimeout, RequestSize - got) is { Length: > 0 } chunk) got += chunk.Length;
                accepted.Send(new byte[AnswerSize]);
                accepted.Close();
                return got;
            }, s.Token).ConfigureAwait(false);
            int requestRead = await kernel.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"accept(), read() {requestRead} bytes, send() {AnswerSize} bytes, close()", id);
            long answer = await UserTcpReadsToEndAsync(s, client).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read {answer} bytes and the FIN, close()", id);
            await client.CloseAsync(s.Token).ConfigureAwait(false);
            await s.UntilAsync(() => client.State is TcpState.Closed, StateTimeout).ConfigureAwait(false);
            if (n == Connections - 1) MarkUserTcpCache(s, server.Address, $"before connection {Connections}");
        }
    }

    /// <summary>UserTcp's Fast Open cache entry for the kernel's address (<see cref="NetStack.FastOpenCookies"/>), as a mark on UserTcp's side.</summary>
    private static void MarkUserTcpCache(LabSession s, Ipv4Address server, string when)
    {
        FastOpenCacheEntry? entry = s.Stack.FastOpenCookies.Get(server);
        s.Mark(LabSide.UserTcp, entry is null ? $"Fast Open cache {when}: no entry" : string.Create(CultureInfo.InvariantCulture,
            $"Fast Open cache {when}: mss {entry.Mss}, SYN losses {entry.SynLosses}, cookie {(entry.Cookie is null ? "none" : Convert.ToHexStringLower(entry.Cookie))}"));
    }

    /// <summary>What one connection's opening looked like on the link.</summary>
    internal sealed record Opening(int Number, FourTuple Id, IReadOnlyList<WirePacket> Syns, WirePacket? SynAck, WirePacket? FirstData)
    {
        public WirePacket? FirstSyn => Syns.Count > 0 ? Syns[0] : null;
        public bool AsksForCookie => FirstSyn is { FastOpen: not TcpFastOpenKind.None } syn && syn.FastOpenCookie.IsRequest;
        public bool SynCarriesCookie => FirstSyn is { FastOpen: not TcpFastOpenKind.None } syn && !syn.FastOpenCookie.IsRequest;
        public int SynData => FirstSyn?.Segment.PayloadLength ?? 0;
        public bool SynLost => FirstSyn?.Dropped == true;
        /// <summary>The SYNs sent after the first: their data and their Fast Open options.</summary>
        public IEnumerable<WirePacket> Resent => Syns.Skip(1);
        public bool ResentPlain => Resent.Any() && Resent.All(p => p.Segment.PayloadLength == 0 && p.FastOpen == TcpFastOpenKind.None);
        /// <summary>The data the server's SYN-ACK acknowledges beyond the SYN.</summary>
        public long SynAckAcknowledgesData => SynAck is null || FirstSyn is null ? 0 : (uint)(SynAck.Segment.AcknowledgmentNumber - (FirstSyn.Segment.SequenceNumber + 1));
        public bool SynAckBringsCookie => SynAck is { FastOpen: not TcpFastOpenKind.None } a && !a.FastOpenCookie.IsRequest;

        /// <summary>The whole opening in one line: "connection 3: SYN carried cookie … and 100 bytes (lost); resent 1× …".</summary>
        public string Describe()
        {
            if (FirstSyn is null) return $"connection {Number}: no SYN seen";
            string resent = Resent.Any() ? $"; {ResentText}" : "";
            return $"connection {Number}: {SynText}{resent}; {SynAckText}{(FirstData is null ? "" : $"; {DataText}")}";
        }

        /// <summary>The first SYN: "SYN carried cookie 1391b8269a3a7f31 and 100 bytes (lost)".</summary>
        public string SynText => FirstSyn is null ? "no SYN seen"
            : $"SYN {(AsksForCookie ? "asked for a cookie" : SynCarriesCookie ? $"carried cookie {FirstSyn.FastOpenCookie}" : "had no Fast Open option")}"
              + $" and {SynData} bytes{(SynLost ? " (lost)" : "")}";

        /// <summary>The SYNs after the first: "resent 1× with 0 bytes, no option".</summary>
        public string ResentText => !Resent.Any() ? "the SYN was not resent"
            : $"resent {Resent.Count()}× with {Resent.Max(p => p.Segment.PayloadLength)} bytes{(Resent.Any(p => p.FastOpen != TcpFastOpenKind.None) ? " and the option" : ", no option")}";

        /// <summary>The server's SYN-ACK: "SYN-ACK acknowledged 0 bytes of data".</summary>
        public string SynAckText => SynAck is null ? "no SYN-ACK"
            : $"SYN-ACK acknowledged {SynAckAcknowledgesData} bytes of data{(SynAckBringsCookie ? $", cookie {SynAck.FastOpenCookie}" : "")}";

        /// <summary>The client's first data after its SYN: "the request (100 bytes) went after the handshake at 1.063 s".</summary>
        public string DataText => FirstData is null ? "no data after the handshake"
            : string.Create(CultureInfo.InvariantCulture, $"the request ({FirstData.Segment.PayloadLength} bytes) went after the handshake at {FirstData.At.TotalSeconds:0.000} s");
    }

    /// <summary>The connections to the server's port in order, each with its SYNs, SYN-ACK and first data after the SYN, from the client's side.</summary>
    internal static IReadOnlyList<Opening> Openings(LabRecord r)
    {
        LabSide client = r.Role == LabRole.UserTcpActive ? LabSide.UserTcp : LabSide.Kernel;
        LabSide server = client == LabSide.UserTcp ? LabSide.Kernel : LabSide.UserTcp;
        var openings = new List<Opening>();
        foreach (FourTuple c in r.Connections.Where(c => c.Local.Port == Port || c.Remote.Port == Port))
        {
            IReadOnlyList<WirePacket> syns = r.From(c, client, p => p.Segment.Has(TcpFlags.Syn) && !p.Segment.Has(TcpFlags.Ack));
            WirePacket? synAck = FirstOf(r.From(c, server, p => p.Segment.Has(TcpFlags.Syn | TcpFlags.Ack) && !p.Dropped));
            WirePacket? data = FirstOf(r.From(c, client, p => !p.Segment.Has(TcpFlags.Syn) && p.Segment.PayloadLength > 0));
            openings.Add(new Opening(openings.Count + 1, c, syns, synAck, data));
        }
        return openings;
    }

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool kernelClient = r.Role != LabRole.UserTcpActive;
        string clientName = kernelClient ? "the kernel" : "UserTcp", serverName = kernelClient ? "UserTcp" : "the kernel";
        IReadOnlyList<Opening> o = Openings(r);
        Opening? At(int n) => o.Count >= n ? o[n - 1] : null;
        string Seen(int n) => At(n)?.Describe() ?? $"connection {n}: not seen";
        v.Expect($"{Connections} connections, one after another", o.Count == Connections, $"{o.Count} connections");

        Opening? first = At(1);
        v.Expect("connection 1: the client's SYN asks for a cookie (an empty Fast Open option) and carries no data; the server's SYN-ACK brings a cookie",
            first is { AsksForCookie: true, SynData: 0, SynAckBringsCookie: true }, Seen(1));
        Opening? fast = At(2);
        v.Expect($"connection 2: a Fast Open — the SYN carries the cookie and the {RequestSize}-byte request, the SYN-ACK acknowledges the request, and no data segment follows",
            fast is { SynCarriesCookie: true, SynData: RequestSize, SynLost: false, SynAckAcknowledgesData: RequestSize, FirstData: null }, Seen(2));
        foreach (int n in (int[])[3, 4])
        {
            Opening? lost = At(n);
            string still = n == 4 ? " (one loss does not stop Fast Open)" : "";
            // Each of the three says its own finding (the observation tells the whole opening).
            v.Expect($"connection {n}: the client's SYN carries the cookie and its {RequestSize}-byte request{still}, and the link loses it",
                lost is { SynCarriesCookie: true, SynData: RequestSize, SynLost: true }, lost?.SynText ?? "not seen");
            v.Expect($"connection {n}: the retransmitted SYN carries neither the request nor the Fast Open option",
                lost is { ResentPlain: true }, lost?.ResentText ?? "not seen");
            v.Expect($"connection {n}: the SYN-ACK acknowledges only the SYN, and the client sends the request right after the handshake",
                lost is { SynAckAcknowledgesData: 0, FirstData: not null } && lost.FirstData.Segment.PayloadLength == RequestSize,
                lost is null ? "not seen" : $"{lost.SynAckText}; {lost.DataText}");
        }
        Opening? fifth = At(5);
        v.Expect("connection 5: two lost SYN-data in a row do not stop Fast Open either — the SYN carries the cookie and the request, and the SYN-ACK acknowledges it",
            fifth is { SynCarriesCookie: true, SynData: RequestSize, SynLost: false, SynAckAcknowledgesData: RequestSize, FirstData: null }, Seen(5));
        IReadOnlyList<LabMark> reads = [.. r.Marks.Where(m => m.What.Contains("read", StringComparison.Ordinal) && m.What.Contains(
            string.Create(CultureInfo.InvariantCulture, $"{RequestSize} bytes"), StringComparison.Ordinal))];
        v.Expect($"every request and every answer arrived whole ({RequestSize} bytes each way, {Connections} times)",
            reads.Count(m => m.Side == (kernelClient ? LabSide.UserTcp : LabSide.Kernel)) == Connections
            && reads.Count(m => m.Side == (kernelClient ? LabSide.Kernel : LabSide.UserTcp)) == Connections,
            string.Join("; ", r.Marks.Where(m => m.What.Contains("read", StringComparison.Ordinal)).Select(m => m.What)));

        string counted = kernelClient
            ? $"The kernel counted TcpExtTCPFastOpenActive +{r.KernelCounter("TcpExtTCPFastOpenActive")} (SYN-data acknowledged) and "
              + $"TcpExtTCPFastOpenActiveFail +{r.KernelCounter("TcpExtTCPFastOpenActiveFail")} (SYN-data not acknowledged)."
            : $"The kernel counted TcpExtTCPFastOpenPassive +{r.KernelCounter("TcpExtTCPFastOpenPassive")} (SYN-data taken) and "
              + $"TcpExtTCPFastOpenCookieReqd +{r.KernelCounter("TcpExtTCPFastOpenCookieReqd")} (cookies handed out on request).";
        string after = fifth is null ? "" : fifth.SynCarriesCookie
            ? "Two such losses in a row did not stop the client from using Fast Open on the next connection."
            : "After two such losses in a row the client no longer used Fast Open.";
        string cache = r.Marks.FirstOrDefault(m => m.What.StartsWith("ip tcp_metrics", StringComparison.Ordinal) || m.What.StartsWith("Fast Open cache", StringComparison.Ordinal))?.What is string c
            ? $" {(kernelClient ? "The kernel's" : "UserTcp's")} cache said, {c[(c.IndexOf("before", StringComparison.Ordinal))..]}." : "";
        string observed = $"{Capitalized(clientName)} was the client, {serverName} the server. " + string.Join(". ", Enumerable.Range(1, Connections).Select(Seen))
            + $". A lost SYN-data costs the client its SYN timeout: the retransmitted SYN is a plain one, and the request follows the handshake "
            + $"as an ordinary (retransmitted) segment, so the server never sees the data in a SYN. {after}{cache} {counted} " + Sampling(r);
        FourTuple kernelSide = o.Count > 1 ? o[1].Id : default;
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, kernelSide, LabSide.Kernel), Schedule(r, kernelSide, LabSide.UserTcp));
    }
}
