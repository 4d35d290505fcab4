using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// time-wait-port's verdict on records made here (no root): what the side holding TIME-WAIT must refuse and allow — a
/// restarted server's bind() of its port, a client's next connections — as Linux's socket layer does when the kernel
/// holds it, and as UserTcp's API does when UserTcp holds it; and that the kernel's TIME-WAIT lasts 60 s, not two minutes.
/// </summary>
public sealed class TimeWaitPortJudgeTests
{
    private const ushort Plain = 5016, Reusing = 5017, Target = 5018, ClientPort = 40220, NextPort = 45000;

    /// <summary>What the run's calls returned, and the kernel's TIME-WAIT timer and recycling.</summary>
    private sealed record Run(
        string RestartWithoutOnPlain = "EADDRINUSE", string RestartWithOnPlain = "EADDRINUSE", string RestartWithoutOnReusing = "EADDRINUSE",
        string RestartWithOnReusing = "ok", string UserTcpRestart = "ok", string SameTarget = "ok", string OtherTarget = "ok",
        int NextClientPort = NextPort, double TimeWaitSeconds = 60, long TwRecycled = 1);

    private static LabRecord Build(bool userTcpHolds, Run run)
    {
        LabSide holder = userTcpHolds ? LabSide.UserTcp : LabSide.Kernel;
        // The connections the holder closed first: the server's (one, or one per listener) and the client's.
        RecordBuilder[] connections = userTcpHolds
            ? [new RecordBuilder(Plain, 42000), new RecordBuilder(ClientPort, Target)]
            : [new RecordBuilder(43000, Plain), new RecordBuilder(43001, Reusing), new RecordBuilder(Target, ClientPort)];
        for (int i = 0; i < connections.Length; i++)
        {
            RecordBuilder b = connections[i];
            TimeSpan at = Ms(100 * i);
            if (userTcpHolds)
            {
                b.FromUserTcp(at, 1, TcpFlags.Fin | TcpFlags.Ack, 1);
                b.FromKernel(at + Ms(1), 1, TcpFlags.Fin | TcpFlags.Ack, 2);
                b.FromUserTcp(at + Ms(2), 2, TcpFlags.Ack, 2);
                b.Event(new TcpEvent(at, TcpEventKind.StateChanged, default, TcpState.Established, TcpState.FinWait1));
                b.Event(new TcpEvent(at + Ms(1), TcpEventKind.StateChanged, default, TcpState.FinWait1, TcpState.TimeWait));
            }
            else
            {
                b.FromKernel(at, 1, TcpFlags.Fin | TcpFlags.Ack, 1);
                b.FromUserTcp(at + Ms(1), 1, TcpFlags.Fin | TcpFlags.Ack, 2);
                b.FromKernel(at + Ms(2), 2, TcpFlags.Ack, 2);
                b.KernelSample(at, KernelTcpState.FinWait1);
                b.KernelSample(at + Ms(2), KernelTcpState.TimeWait, KernelTcpTimer.TimeWait, expires: TimeSpan.FromSeconds(run.TimeWaitSeconds));
            }
        }
        RecordBuilder client = connections[^1];
        // The client connects again from its port: a recycled TIME-WAIT starts 65537 above the old FIN.
        if (run.SameTarget == "ok" && userTcpHolds) client.FromUserTcp(Ms(500), 1 + 1 + 65_537, TcpFlags.Syn, null);
        else if (run.SameTarget == "ok") client.FromKernel(Ms(500), 1 + 1 + 65_537, TcpFlags.Syn, null);
        int marks = 0;
        void Mark(string what) => client.Mark(Ms(400 + marks++), holder, what);
        if (userTcpHolds)
        {
            Mark($"restart: Listen({Plain}): {run.UserTcpRestart}");
            if (run.UserTcpRestart == "ok") Mark($"restart: accept() on port {Plain}: a new connection");
            Mark($"client: first connect() to port {Target} from port {ClientPort}");
            Mark($"client: connect() to port {Target} again, no local port given: from port {run.NextClientPort}");
            Mark($"client: connect() from port {ClientPort} to port {Target}: {run.SameTarget}");
            Mark($"client: connect() from port {ClientPort} to port 5019: {run.OtherTarget}");
        }
        else
        {
            Mark($"restart: bind({Plain}) without SO_REUSEADDR, listen(): {run.RestartWithoutOnPlain}");
            Mark($"restart: bind({Plain}) with SO_REUSEADDR, listen(): {run.RestartWithOnPlain}");
            Mark($"restart: bind({Reusing}) without SO_REUSEADDR, listen(): {run.RestartWithoutOnReusing}");
            Mark($"restart: bind({Reusing}) with SO_REUSEADDR, listen(): {run.RestartWithOnReusing}");
            if (run.RestartWithOnReusing == "ok") Mark($"restart: accept() on port {Reusing}: a new connection");
            Mark($"client: bind({ClientPort}) with SO_REUSEADDR, first connect() to port {Target} from port {ClientPort}");
            Mark($"client: connect() to port {Target} again, no bind(): from port {run.NextClientPort}");
            Mark($"client: bind({ClientPort}) without SO_REUSEADDR: EADDRINUSE");
            Mark($"client: bind({ClientPort}) with SO_REUSEADDR, connect() to port {Target}: {run.SameTarget}");
            Mark($"client: bind({ClientPort}) with SO_REUSEADDR, connect() to port 5019: {run.OtherTarget}");
        }
        // A record's counters are its first connection's.
        (userTcpHolds ? connections[0].UserTcpCounters : connections[0].KernelCounters)["TcpExtTWRecycled"] = run.TwRecycled;
        return RecordBuilder.Build("time-wait-port", userTcpHolds ? LabRole.UserTcpActive : LabRole.UserTcpPassive, connections);
    }

    private static LabVerdict Judge(bool userTcpHolds, Run run) => LabCatalog.Find("time-wait-port")!.Judge(Build(userTcpHolds, run));

    private static IReadOnlyList<string> Failed(bool userTcpHolds, Run run) =>
        [.. Judge(userTcpHolds, run).Expectations.Where(e => !e.Passed).Select(e => e.What)];

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void What_linux_and_usertcp_refuse_and_allow_passes_and_partly_agrees_with_the_seed(bool userTcpHolds)
    {
        LabVerdict verdict = Judge(userTcpHolds, new Run());

        Assert.Empty(verdict.Expectations.Where(e => !e.Passed).Select(e => e.What));
        Assert.Equal(SeedAgreement.Partly, verdict.Agreement);
    }

    [Fact]
    public void A_kernel_time_wait_of_two_minutes_fails()
    {
        Assert.Equal(
            ["the kernel holds the three connections it closed first in TIME-WAIT, its timer at 60 s (TCP_TIMEWAIT_LEN), not two minutes"],
            Failed(userTcpHolds: false, new Run(TimeWaitSeconds: 120)));
    }

    [Fact]
    public void A_restart_refused_with_so_reuseaddr_on_both_fails_and_one_allowed_without_it_fails()
    {
        Assert.Equal(
            ["with SO_REUSEADDR on both, the old listener and the new, bind() succeeds and the restarted server accepts a new connection"],
            Failed(userTcpHolds: false, new Run(RestartWithOnReusing: "EADDRINUSE")));
        Assert.Equal(
            ["the restarted server's bind() fails (EADDRINUSE) while a TIME-WAIT connection holds its port and either socket lacks SO_REUSEADDR — the new one, or the old listener whose connection it was"],
            Failed(userTcpHolds: false, new Run(RestartWithOnPlain: "ok")));
    }

    [Fact]
    public void A_kernel_client_that_cannot_take_its_time_wait_over_fails()
    {
        Assert.Equal(
            ["with SO_REUSEADDR (which the first socket had too), bind() succeeds and connect() to the same server too: with timestamps, the kernel takes the TIME-WAIT over (TcpExtTWRecycled), the new SYN's sequence number above the old connection's"],
            Failed(userTcpHolds: false, new Run(SameTarget: "EADDRNOTAVAIL", TwRecycled: 0)));
    }

    [Fact]
    public void A_next_connection_from_the_same_port_or_a_refused_other_target_fails()
    {
        Assert.Equal(
            ["the client's next connect() to the same server, with no port given, gets another port from UserTcp"],
            Failed(userTcpHolds: true, new Run(NextClientPort: ClientPort)));
        Assert.Equal(
            ["the same port connects to another server port at once: TIME-WAIT holds the 4-tuple, not the port"],
            Failed(userTcpHolds: false, new Run(OtherTarget: "EADDRINUSE")));
    }

    [Fact]
    public void Usertcp_refusing_its_listener_again_or_its_time_wait_to_a_connect_from_its_port_fails()
    {
        Assert.Equal(
            ["UserTcp listens on port 5016 again at once and accepts a new connection there: it has no bind(), and a TIME-WAIT record holds only its 4-tuple (as if SO_REUSEADDR were set)"],
            Failed(userTcpHolds: true, new Run(UserTcpRestart: "EADDRINUSE")));
        Assert.Equal(
            ["a connect() from that port to the same server succeeds: with timestamps, UserTcp takes the TIME-WAIT over (TcpExtTWRecycled), the new SYN's sequence number above the old connection's"],
            Failed(userTcpHolds: true, new Run(SameTarget: "EADDRINUSE", TwRecycled: 0)));
    }
}
