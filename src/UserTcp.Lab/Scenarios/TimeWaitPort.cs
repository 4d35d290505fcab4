using System.Globalization;
using System.Net;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// time-wait-port (seed 004): while connections sit in TIME-WAIT, can their ports be used again? Part 1, a server's port:
/// the server closes its connections first (so it holds TIME-WAIT), stops, and starts again on the same port — bind()
/// without and with SO_REUSEADDR, on a port whose old listener had it off and one whose old listener had it on. Part 2, a
/// client's port: the client closes first, then connects again — letting the stack choose the port, and from the same
/// port to the same server and to another. Role passive: the kernel holds TIME-WAIT and its socket layer answers
/// (inet_csk_get_port's bind conflicts, __inet_hash_connect's 4-tuple check); active: UserTcp holds it, whose API has no
/// bind(): a listener conflicts only with a listener, a connect only with a connection or TIME-WAIT record of its 4-tuple.
/// </summary>
public sealed class TimeWaitPort : LabScenario
{
    internal const ushort Plain = 5016, Reusing = 5017, Target = 5018, OtherTarget = 5019;
    /// <summary>The client's port in part 2, bound with SO_REUSEADDR (a bind() of it later needs the option on both sockets).</summary>
    internal const ushort ClientPort = 40220;

    public override string Name => "time-wait-port";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp closes first and holds TIME-WAIT, then uses its ports again"
        : "the kernel closes first and holds TIME-WAIT, then uses its ports again";

    public override string Question =>
        "While connections sit in TIME-WAIT, can their ports be used again — a server's listening port by the restarted server, "
        + "with and without SO_REUSEADDR, and a client's port by its next connection, to the same server and to another?";

    public override SeedClaim Seed => new("seed 004",
        "2MSL is about two minutes; the side that closed first is in TIME-WAIT meanwhile, and the port its process used cannot be "
        + "released — unless the program makes the port reusable with setsockopt (SO_REUSEADDR).");

    // UserTcp's TIME-WAIT outlasts the run's parts (the lab's default is 2 s).
    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        TimeWait = full ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(8),
    };

    public override async Task RunAsync(LabSession s)
    {
        if (s.Role == LabRole.UserTcpActive) await UserTcpHoldsAsync(s).ConfigureAwait(false);
        else await KernelHoldsAsync(s).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
    }

    private static async Task KernelHoldsAsync(LabSession s)
    {
        // Part 1: the kernel serves on two ports, one listener without SO_REUSEADDR, one with; it closes each connection first.
        foreach ((ushort port, bool reuse) in new[] { (Plain, false), (Reusing, true) })
        {
            using KernelSocket listener = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, port), reuseAddress: reuse);
            s.Mark(LabSide.Kernel, $"listen() on port {port} {With(reuse)}");
            Task<KernelSocket> accepting = listener.AcceptAsync(StateTimeout);
            UserTcpConnection client = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(port), s.Token).WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            KernelSocket served = s.Track(await accepting.ConfigureAwait(false));
            var id = new FourTuple(client.LocalEndpoint, client.RemoteEndpoint);
            await CloseInTurnAsync(s, new LabConnection(served, client, id)).ConfigureAwait(false);
            await s.KernelReachesAsync(id, KernelTcpState.TimeWait, StateTimeout).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"close() the listener on port {port} (the server stops)", id);
        }
        // The server starts again: each port, without and with SO_REUSEADDR; the last listener that binds serves a new connection.
        KernelSocket? restarted = null;
        ushort restartedPort = 0;
        foreach ((ushort port, bool reuse) in new[] { (Plain, false), (Plain, true), (Reusing, false), (Reusing, true) })
        {
            try
            {
                KernelSocket listener = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, port), reuseAddress: reuse);
                s.Mark(LabSide.Kernel, $"restart: bind({port}) {With(reuse)}, listen(): ok");
                restarted?.Close();
                (restarted, restartedPort) = (s.Track(listener), port);
            }
            catch (SocketException e)
            {
                s.Mark(LabSide.Kernel, $"restart: bind({port}) {With(reuse)}, listen(): {Errno(e)}");
            }
        }
        if (restarted is not null)
        {
            Task<KernelSocket> accepting = restarted.AcceptAsync(StateTimeout);
            UserTcpConnection again = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(restartedPort), s.Token).WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Track(await accepting.ConfigureAwait(false));
            s.Mark(LabSide.Kernel, $"restart: accept() on port {restartedPort}: a new connection", new FourTuple(again.LocalEndpoint, again.RemoteEndpoint));
            again.Abort();
        }

        // Part 2: the kernel is the client; it closes first, then connects again.
        using UserTcpListener target = s.Stack.Listen(Target), other = s.Stack.Listen(OtherTarget);
        var to = LabSession.UserTcpEndPoint(Target);
        var toOther = LabSession.UserTcpEndPoint(OtherTarget);
        KernelSocket first = s.Track(s.NewKernelSocket(new IPEndPoint(LabSession.KernelAddress, ClientPort), reuseAddress: true));
        await first.ConnectAsync(to, StateTimeout).ConfigureAwait(false);
        UserTcpConnection accepted = await target.AcceptAsync(s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        var firstId = new FourTuple(accepted.LocalEndpoint, accepted.RemoteEndpoint);
        int port0 = first.Local.Port;
        s.Mark(LabSide.Kernel, $"client: bind({port0}) with SO_REUSEADDR, first connect() to port {Target} from port {port0}", firstId);
        s.Mark(LabSide.Kernel, "close()", firstId);
        first.Close();
        await accepted.ReadAsync(new byte[16], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        await accepted.CloseAsync(s.Token).ConfigureAwait(false);
        await s.KernelReachesAsync(firstId, KernelTcpState.TimeWait, StateTimeout).ConfigureAwait(false);

        KernelSocket next = s.Track(s.NewKernelSocket());
        await next.ConnectAsync(to, StateTimeout).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, $"client: connect() to port {Target} again, no bind(): from port {next.Local.Port}");
        await KernelClientTryAsync(s, $"client: bind({port0}) without SO_REUSEADDR", port0, reuse: false, to: null).ConfigureAwait(false);
        await KernelClientTryAsync(s, $"client: bind({port0}) with SO_REUSEADDR, connect() to port {Target}", port0, reuse: true, to).ConfigureAwait(false);
        await KernelClientTryAsync(s, $"client: bind({port0}) with SO_REUSEADDR, connect() to port {OtherTarget}", port0, reuse: true, toOther).ConfigureAwait(false);
    }

    // One try of the kernel client's: bind() to the port (and connect() when a target is given); the first failure is the result.
    private static async Task KernelClientTryAsync(LabSession s, string what, int port, bool reuse, IPEndPoint? to)
    {
        string result;
        try
        {
            KernelSocket socket = s.Track(s.NewKernelSocket(new IPEndPoint(LabSession.KernelAddress, port), reuse));
            if (to is not null) await socket.ConnectAsync(to, StateTimeout).ConfigureAwait(false);
            result = "ok";
        }
        catch (SocketException e)
        {
            result = Errno(e);
        }
        s.Mark(LabSide.Kernel, $"{what}: {result}");
    }

    private static async Task UserTcpHoldsAsync(LabSession s)
    {
        // Part 1: UserTcp serves; it closes its connection first, stops listening and listens again on the same port.
        var serverAt = LabSession.UserTcpEndPoint(Plain);
        UserTcpListener listener = s.Stack.Listen(Plain);
        s.Mark(LabSide.UserTcp, $"Listen({Plain})");
        KernelSocket client = s.Track(s.NewKernelSocket());
        await client.ConnectAsync(serverAt, StateTimeout).ConfigureAwait(false);
        UserTcpConnection served = await listener.AcceptAsync(s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        var id = new FourTuple(served.LocalEndpoint, served.RemoteEndpoint);
        await CloseInTurnAsync(s, new LabConnection(client, served, id)).ConfigureAwait(false);
        await s.UserTcpReachesAsync(id, TcpState.TimeWait, StateTimeout).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, $"Dispose() the listener on port {Plain} (the server stops)", id);
        listener.Dispose();
        try
        {
            using UserTcpListener restarted = s.Stack.Listen(Plain);
            s.Mark(LabSide.UserTcp, $"restart: Listen({Plain}): ok");
            KernelSocket again = s.Track(s.NewKernelSocket());
            await again.ConnectAsync(serverAt, StateTimeout).ConfigureAwait(false);
            UserTcpConnection next = await restarted.AcceptAsync(s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"restart: accept() on port {Plain}: a new connection", new FourTuple(next.LocalEndpoint, next.RemoteEndpoint));
            next.Abort();
        }
        catch (SocketException e)
        {
            s.Mark(LabSide.UserTcp, $"restart: Listen({Plain}): {Errno(e)}");
        }

        // Part 2: UserTcp is the client; it closes first, then connects again.
        using KernelSocket target = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, Target));
        using KernelSocket other = s.KernelListener(new IPEndPoint(LabSession.KernelAddress, OtherTarget));
        Task<KernelSocket> accepting = target.AcceptAsync(StateTimeout);
        UserTcpConnection first = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(Target), new UserTcpConnectionOptions { LocalPort = ClientPort }, s.Token)
            .WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        KernelSocket peer = s.Track(await accepting.ConfigureAwait(false));
        var firstId = new FourTuple(first.LocalEndpoint, first.RemoteEndpoint);
        ushort port0 = first.LocalEndpoint.Port;
        s.Mark(LabSide.UserTcp, $"client: first connect() to port {Target} from port {port0}", firstId);
        await CloseInTurnAsync(s, new LabConnection(peer, first, firstId)).ConfigureAwait(false);
        await s.UserTcpReachesAsync(firstId, TcpState.TimeWait, StateTimeout).ConfigureAwait(false);

        accepting = target.AcceptAsync(StateTimeout);
        UserTcpConnection next2 = await s.Stack.ConnectAsync(LabSession.KernelEndpoint(Target), s.Token).WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        s.Track(await accepting.ConfigureAwait(false));
        s.Mark(LabSide.UserTcp, $"client: connect() to port {Target} again, no local port given: from port {next2.LocalEndpoint.Port}");
        await UserTcpClientTryAsync(s, $"client: connect() from port {port0} to port {Target}", port0, Target, target).ConfigureAwait(false);
        await UserTcpClientTryAsync(s, $"client: connect() from port {port0} to port {OtherTarget}", port0, OtherTarget, other).ConfigureAwait(false);
    }

    // One try of UserTcp's client: a connect() from the given local port (UserTcpConnectionOptions.LocalPort).
    private static async Task UserTcpClientTryAsync(LabSession s, string what, ushort localPort, ushort port, KernelSocket listener)
    {
        string result;
        try
        {
            Task<KernelSocket> accepting = listener.AcceptAsync(StateTimeout);
            await s.Stack.ConnectAsync(LabSession.KernelEndpoint(port), new UserTcpConnectionOptions { LocalPort = localPort }, s.Token)
                .WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Track(await accepting.ConfigureAwait(false));
            result = "ok";
        }
        catch (SocketException e)
        {
            result = Errno(e);
        }
        s.Mark(LabSide.UserTcp, $"{what}: {result}");
    }

    private static string With(bool reuse) => reuse ? "with SO_REUSEADDR" : "without SO_REUSEADDR";

    /// <summary>A socket error by its errno name, as the C API reports it.</summary>
    private static string Errno(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "EADDRINUSE",
        SocketError.AddressNotAvailable => "EADDRNOTAVAIL",
        SocketError.ConnectionRefused => "ECONNREFUSED",
        SocketError.TimedOut => "ETIMEDOUT",
        SocketError code => code.ToString(),
    };

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpHolds = r.Role == LabRole.UserTcpActive;
        LabSide holder = userTcpHolds ? LabSide.UserTcp : LabSide.Kernel;
        string holderName = userTcpHolds ? "UserTcp" : "the kernel";
        string Result(string prefix) => r.Marks.FirstOrDefault(m => m.Side == holder && m.What.StartsWith(prefix + ": ", StringComparison.Ordinal))?.What[(prefix.Length + 2)..] ?? "-";
        LabMark? clientFirst = r.Marks.FirstOrDefault(m => m.Side == holder && m.What.StartsWith("client: ", StringComparison.Ordinal) && m.What.Contains("first connect()", StringComparison.Ordinal));
        int port0 = clientFirst is null ? 0 : int.Parse(clientFirst.What[(clientFirst.What.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        LabMark? nextMark = r.Marks.FirstOrDefault(m => m.Side == holder && m.What.Contains(" again, no ", StringComparison.Ordinal));
        int nextPort = nextMark is null ? 0 : int.Parse(nextMark.What[(nextMark.What.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);

        // TIME-WAIT held: the closed connections as each side's own record shows them.
        int inTimeWait = r.Connections.Count(c => LabRecord.WasIn(userTcpHolds ? r.UserTcpStates(c) : r.KernelStates(c), "TIME-WAIT"));
        IReadOnlyList<TimeSpan> timers = userTcpHolds ? [] : [.. r.Connections.SelectMany(c => r.KernelChanges(c))
            .Where(x => x.State == KernelTcpState.TimeWait && x.Timer == KernelTcpTimer.TimeWait).Select(x => x.Expires)];
        TimeSpan longest = timers.Count > 0 ? timers.Max() : TimeSpan.Zero;
        if (userTcpHolds)
        {
            v.Expect("UserTcp holds both connections it closed first in TIME-WAIT", inTimeWait >= 2, $"{inTimeWait} connection(s) in TIME-WAIT");
        }
        else
        {
            v.Expect("the kernel holds the three connections it closed first in TIME-WAIT, its timer at 60 s (TCP_TIMEWAIT_LEN), not two minutes",
                inTimeWait >= 3 && longest > TimeSpan.FromSeconds(50) && longest <= TimeSpan.FromSeconds(60),
                $"{inTimeWait} connection(s) in TIME-WAIT; the longest time left sock_diag showed: {LabRecord.Seconds(longest)}");
        }

        // Part 1: the restarted server.
        string[] restart;
        if (userTcpHolds)
        {
            string listen = Result($"restart: Listen({Plain})");
            string accepted = Result($"restart: accept() on port {Plain}");
            v.Expect($"UserTcp listens on port {Plain} again at once and accepts a new connection there: it has no bind(), and a TIME-WAIT record holds only its 4-tuple (as if SO_REUSEADDR were set)",
                listen == "ok" && accepted != "-", $"Listen({Plain}): {listen}; accept(): {accepted}");
            restart = [$"Listen({Plain}) again: {listen}"];
        }
        else
        {
            string plainWithout = Result($"restart: bind({Plain}) without SO_REUSEADDR, listen()"), plainWith = Result($"restart: bind({Plain}) with SO_REUSEADDR, listen()");
            string reusingWithout = Result($"restart: bind({Reusing}) without SO_REUSEADDR, listen()"), reusingWith = Result($"restart: bind({Reusing}) with SO_REUSEADDR, listen()");
            string accepted = Result($"restart: accept() on port {Reusing}");
            v.Expect("the restarted server's bind() fails (EADDRINUSE) while a TIME-WAIT connection holds its port and either socket lacks SO_REUSEADDR — the new one, or the old listener whose connection it was",
                plainWithout == "EADDRINUSE" && plainWith == "EADDRINUSE" && reusingWithout == "EADDRINUSE",
                $"port {Plain} (old listener without): without {plainWithout}, with {plainWith}; port {Reusing} (old listener with): without {reusingWithout}");
            v.Expect("with SO_REUSEADDR on both, the old listener and the new, bind() succeeds and the restarted server accepts a new connection",
                reusingWith == "ok" && accepted != "-", $"port {Reusing} with SO_REUSEADDR: {reusingWith}; accept(): {accepted}");
            restart = [$"port {Plain}, whose old listener lacked SO_REUSEADDR: {plainWithout} without it, {plainWith} with it", $"port {Reusing}, whose old listener had it: {reusingWithout} without, {reusingWith} with"];
        }

        // Part 2: the client's next connections.
        v.Expect($"the client's next connect() to the same server, with no port given, gets another port from {holderName}",
            nextPort != 0 && port0 != 0 && nextPort != port0, $"first from port {port0}, then from port {nextPort}");
        string same, another, bindWithout = "";
        if (userTcpHolds)
        {
            same = Result($"client: connect() from port {port0} to port {Target}");
            another = Result($"client: connect() from port {port0} to port {OtherTarget}");
        }
        else
        {
            bindWithout = Result($"client: bind({port0}) without SO_REUSEADDR");
            same = Result($"client: bind({port0}) with SO_REUSEADDR, connect() to port {Target}");
            another = Result($"client: bind({port0}) with SO_REUSEADDR, connect() to port {OtherTarget}");
            v.Expect($"bind() of the TIME-WAIT connection's port without SO_REUSEADDR fails (EADDRINUSE)", bindWithout == "EADDRINUSE", bindWithout);
        }
        // A connect() from a given port asks Linux's tcp_twsk_unique with no port search (twp NULL): with the peer's timestamps
        // seen, the TIME-WAIT is taken over at once, whatever tcp_tw_reuse says, its sequence space continued (SND.NXT + 65537).
        // UserTcp does the same (TcpEngine.MayRecycle).
        FourTuple recycled = r.Connections.FirstOrDefault(c => userTcpHolds ? c.Local.Port == port0 && c.Remote.Port == Target : c.Local.Port == Target && c.Remote.Port == port0);
        WirePacket? oldFin = FirstOf(r.From(recycled, holder, IsFin));
        WirePacket? newSyn = oldFin is null ? null : FirstOf(r.From(recycled, holder, p => p.Segment.Flags == TcpFlags.Syn && p.At > oldFin.At));
        int above = newSyn is not null ? newSyn.Segment.SequenceNumber - (oldFin!.Segment.SequenceNumber + 1) : int.MinValue;
        long twRecycled = userTcpHolds ? r.UserTcpCounter("TcpExtTWRecycled") : r.KernelCounter("TcpExtTWRecycled");
        v.Expect((userTcpHolds ? "a connect() from that port to the same server succeeds" : "with SO_REUSEADDR (which the first socket had too), bind() succeeds and connect() to the same server too")
            + $": with timestamps, {holderName} takes the TIME-WAIT over (TcpExtTWRecycled), the new SYN's sequence number above the old connection's",
            same == "ok" && twRecycled >= 1 && above > 0,
            $"{same}; TcpExtTWRecycled {twRecycled}; the new SYN {(above == int.MinValue ? "not seen" : $"{above} above the old FIN")}");
        string recycledNote = twRecycled >= 1 && above > 0 ? $" ({holderName} took the TIME-WAIT over, TcpExtTWRecycled, its new SYN {above} above the old FIN)" : "";
        v.Expect($"the same port connects to another server port at once: TIME-WAIT holds the 4-tuple, not the port", another == "ok", another);

        string observed = $"{Capitalized(holderName)} closed its connections first and held them in TIME-WAIT"
            + (userTcpHolds ? "" : $" (its timer at {LabRecord.Seconds(longest)})") + ". "
            + $"The server, restarted on its port: {string.Join("; ", restart)}. "
            + $"The client, which had used port {port0}: its next connect() to the same server went from port {nextPort}; "
            + (userTcpHolds ? "" : $"bind({port0}) without SO_REUSEADDR: {bindWithout}; ")
            + $"from port {port0} to the same server: {same}{recycledNote}; to another port of that server: {another}. " + Sampling(r);
        string why = "Half of it holds. A restarted server's bind() of its port fails while a TIME-WAIT connection holds it (EADDRINUSE), "
            + "and SO_REUSEADDR lets it through only when the old socket had it too — in practice, a program that always sets it before "
            + "bind(). But TIME-WAIT holds the connection, its 4-tuple, not the port: a client's next connect() simply gets another port, "
            + "and the same port reaches any other peer or port at once. Even that 4-tuple is not refused to a client that binds its port "
            + "with SO_REUSEADDR: with timestamps (on by default) Linux takes the TIME-WAIT over and continues its sequence space, PAWS "
            + "keeping the old connection's segments out. And on Linux TIME-WAIT lasts 60 s (TCP_TIMEWAIT_LEN), not two minutes. UserTcp "
            + "has no bind(): its listener is refused only by another listener, and a connect() from a given port only by a live "
            + "connection of that 4-tuple, or a TIME-WAIT record of it when timestamps were not in use.";
        return v.Build(this, r, observed, SeedAgreement.Partly, why, Schedule(r, First(r), LabSide.Kernel), Schedule(r, First(r), LabSide.UserTcp));
    }
}
