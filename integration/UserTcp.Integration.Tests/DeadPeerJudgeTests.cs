using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// dead-peer's verdict on records made here (no root): two connections whose peer vanishes after the handshake, kept
/// alive as Linux keeps them, and a third without keepalive that stays silent, pass in either role; a stack that gives up
/// without a RST, one that stops at TCP_KEEPCNT though a user timeout is set, one that backs its probes off, one whose
/// probe carries a byte of data, and one that probes where keepalive is off each fail the expectations about that, and
/// only those.
/// </summary>
public sealed class DeadPeerJudgeTests
{
    /// <summary>How the staying side keeps alive: Linux's way unless a test says otherwise.</summary>
    private sealed record Keeper(bool ResetAtGiveUp = true, bool CountDespiteUserTimeout = false, bool BackOff = false, int ProbeBytes = 0, bool ProbeWithoutKeepAlive = false);

    private static readonly TimeSpan Handshake = TimeSpan.FromMilliseconds(100);

    private static RecordBuilder Connection(bool userTcpStays, ushort port, bool userTimeout, Keeper keeper)
    {
        // The staying side connects: UserTcp to the kernel's port, or the kernel to UserTcp's.
        var b = userTcpStays ? new RecordBuilder(40000, port) : new RecordBuilder(port, 40000);
        b.Handshake(Handshake, kernelConnects: !userTcpStays);
        TimeSpan lastReceived = Handshake + TimeSpan.FromMilliseconds(userTcpStays ? 0.2 : 0.4);
        void Probe(TimeSpan at, TcpFlags flags, uint seq)
        {
            int length = flags.HasFlag(TcpFlags.Rst) ? 0 : keeper.ProbeBytes;
            if (userTcpStays) b.FromUserTcp(at, seq, flags, 1, length, dropped: true);
            else b.FromKernel(at, seq, flags, 1, length, dropped: true);
        }

        int probes = userTimeout && !keeper.CountDespiteUserTimeout ? DeadPeer.ExpectedProbes(DeadPeer.UserTimeout) : DeadPeer.Count;
        TimeSpan at = lastReceived + DeadPeer.Idle, interval = DeadPeer.Interval;
        for (int i = 0; i < probes; i++)
        {
            Probe(at, TcpFlags.Ack, 0);
            at += interval;
            if (keeper.BackOff) interval *= 2;
        }
        if (keeper.ResetAtGiveUp) Probe(at, TcpFlags.Rst | TcpFlags.Ack, 1);

        LabSide stays = userTcpStays ? LabSide.UserTcp : LabSide.Kernel;
        b.Mark(at + TimeSpan.FromMilliseconds(1), stays, "read() fails: TimedOut");
        if (userTcpStays)
        {
            b.Event(new TcpEvent(Handshake, TcpEventKind.StateChanged, default, TcpState.Closed, TcpState.SynSent));
            b.Event(new TcpEvent(lastReceived, TcpEventKind.StateChanged, default, TcpState.SynSent, TcpState.Established));
            b.Event(new TcpEvent(at, TcpEventKind.StateChanged, default, TcpState.Established, TcpState.Closed, TcpCause.KeepAliveTimeout));
            b.KernelSample(Handshake + TimeSpan.FromMilliseconds(1), KernelTcpState.Established);
        }
        else
        {
            b.Event(new TcpEvent(Handshake, TcpEventKind.StateChanged, default, TcpState.Listen, TcpState.SynReceived));
            b.Event(new TcpEvent(lastReceived, TcpEventKind.StateChanged, default, TcpState.SynReceived, TcpState.Established));
            b.KernelSample(Handshake + TimeSpan.FromMilliseconds(1), KernelTcpState.Established);
            b.KernelSample(at + TimeSpan.FromMilliseconds(1), null);
        }
        b.End = at + TimeSpan.FromSeconds(1);
        return b;
    }

    // The connection without keepalive: the handshake, then silence (unless the keeper probes anyway), the read() still waiting.
    private static RecordBuilder Silent(bool userTcpStays, Keeper keeper)
    {
        var b = userTcpStays ? new RecordBuilder(40000, 5052) : new RecordBuilder(5052, 40000);
        b.Handshake(Handshake, kernelConnects: !userTcpStays);
        if (keeper.ProbeWithoutKeepAlive)
        {
            if (userTcpStays) b.FromUserTcp(Handshake + DeadPeer.Idle, 0, TcpFlags.Ack, 1, dropped: true);
            else b.FromKernel(Handshake + DeadPeer.Idle, 0, TcpFlags.Ack, 1, dropped: true);
        }
        TimeSpan end = Handshake + DeadPeer.Watched;
        b.Mark(end, userTcpStays ? LabSide.UserTcp : LabSide.Kernel, "read() still waiting after 8.000 s (given up by the lab)");
        b.Event(new TcpEvent(Handshake, TcpEventKind.StateChanged, default, userTcpStays ? TcpState.Closed : TcpState.Listen, userTcpStays ? TcpState.SynSent : TcpState.SynReceived));
        b.Event(new TcpEvent(Handshake + TimeSpan.FromMilliseconds(0.3), TcpEventKind.StateChanged, default, userTcpStays ? TcpState.SynSent : TcpState.SynReceived, TcpState.Established));
        b.KernelSample(Handshake + TimeSpan.FromMilliseconds(1), KernelTcpState.Established);
        return b;
    }

    private static LabVerdict Judge(bool userTcpStays, Keeper keeper) =>
        LabCatalog.Find("dead-peer")!.Judge(RecordBuilder.Build("dead-peer", userTcpStays ? LabRole.UserTcpActive : LabRole.UserTcpPassive,
            [Connection(userTcpStays, 5050, userTimeout: false, keeper), Connection(userTcpStays, 5051, userTimeout: true, keeper), Silent(userTcpStays, keeper)]));

    private static string[] Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linux_behaviour_passes_in_either_role(bool userTcpStays)
    {
        LabVerdict v = Judge(userTcpStays, new Keeper());
        Assert.Empty(Failed(v));
        Assert.Equal(userTcpStays ? 21 : 19, v.Expectations.Count);
        Assert.Contains("5 in all", v.Observed, StringComparison.Ordinal);
        Assert.Equal(SeedAgreement.Partly, v.Agreement);
    }

    [Fact]
    public void Giving_up_without_a_reset_fails_only_the_reset_expectations()
    {
        string[] failed = Failed(Judge(userTcpStays: true, new Keeper(ResetAtGiveUp: false)));
        Assert.Equal(2, failed.Length);
        Assert.All(failed, f => Assert.Contains("it sends a RST", f, StringComparison.Ordinal));
    }

    [Fact]
    public void Stopping_at_the_count_despite_a_user_timeout_fails_that_connection_only()
    {
        string[] failed = Failed(Judge(userTcpStays: false, new Keeper(CountDespiteUserTimeout: true)));
        Assert.Equal(2, failed.Length);
        Assert.All(failed, f => Assert.StartsWith("with TCP_USER_TIMEOUT", f, StringComparison.Ordinal));
        Assert.Contains(failed, f => f.Contains("more than TCP_KEEPCNT", StringComparison.Ordinal));
    }

    [Fact]
    public void Probes_backed_off_fail_the_interval_and_the_give_up_time()
    {
        string[] failed = Failed(Judge(userTcpStays: true, new Keeper(BackOff: true)));
        Assert.Contains(failed, f => f.StartsWith("keepalive alone: unanswered probes follow every", StringComparison.Ordinal));
        Assert.Contains(failed, f => f.StartsWith("with TCP_USER_TIMEOUT 7.000 s: unanswered probes follow every", StringComparison.Ordinal));
        Assert.All(failed, f => Assert.Matches("unanswered probes follow every|it sends a RST", f));
    }

    [Fact]
    public void A_probe_with_a_byte_of_data_fails_the_form_expectation_only()
    {
        string[] failed = Failed(Judge(userTcpStays: false, new Keeper(ProbeBytes: 1)));
        Assert.Equal(2, failed.Length);
        Assert.All(failed, f => Assert.Contains("each probe is an empty ACK one below SND.UNA", f, StringComparison.Ordinal));
    }

    [Fact]
    public void Probing_a_connection_without_keepalive_fails_the_silence_expectation_only()
    {
        string[] failed = Failed(Judge(userTcpStays: true, new Keeper(ProbeWithoutKeepAlive: true)));
        Assert.Equal(["without keepalive: nothing more is sent by either side"], failed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_time_sequence_graph_marks_each_keepalive_probe_of_a_connection_that_carried_no_data(bool userTcpStays)
    {
        RecordBuilder b = Connection(userTcpStays, 5050, userTimeout: false, new Keeper());
        LabRecord r = b.Build("dead-peer", userTcpStays ? LabRole.UserTcpActive : LabRole.UserTcpPassive);
        string directory = Directory.CreateTempSubdirectory("usertcp-dp-graph-").FullName;
        try
        {
            LabSide stays = userTcpStays ? LabSide.UserTcp : LabSide.Kernel, vanishes = userTcpStays ? LabSide.Kernel : LabSide.UserTcp;
            LabGraphs.TimeSequence(r, b.Connection, stays, Path.Combine(directory, "stays"));
            LabGraphs.TimeSequence(r, b.Connection, vanishes, Path.Combine(directory, "vanishes"));

            // The only ACK the prober ever had is the SYN-ACK's (or, for the listener, the handshake's ACK).
            string svg = File.ReadAllText(Path.Combine(directory, "stays.svg"));
            Assert.Contains($"probe: no data, below the ACK ({DeadPeer.Count})", svg, StringComparison.Ordinal);
            Assert.Contains("RST (1)", svg, StringComparison.Ordinal);
            Assert.Contains("dropped by the link (x)", svg, StringComparison.Ordinal); // every probe and the RST were lost
            Assert.DoesNotContain("probe:", File.ReadAllText(Path.Combine(directory, "vanishes.svg")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
