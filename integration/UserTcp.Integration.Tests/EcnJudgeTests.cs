using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// ecn's verdict on records made here (no root): ECN agreed in the handshake, data ECT(0) and the marked segments CE,
/// the receiver's ECE from the first CE until the sender's CWR and never else, one CWR per window of marks, ssthresh
/// falling, nothing resent; whichever side sends. Each "must not" (a cut per mark, an echo that stops early, a resend,
/// Not-ECT data, a handshake without ECN) fails the expectation that names it, and only that one.
/// </summary>
public sealed class EcnJudgeTests
{
    private const int Mss = 1448, Segments = Ecn.Segments;
    private const ushort Port = 5040, Ephemeral = 40000;
    private static readonly int[] MarkedAt = [15, 16, 60];

    /// <summary>How the run goes: which segments carry CWR, which ACKs echo, what goes wrong.</summary>
    private sealed record Run(
        int[]? Cwr = null, bool EchoUntilCwr = true, bool Resend = false, bool NotEct = false, bool AgreeInHandshake = true, bool Read = true, int ExtraCuts = 0,
        double ReadLateMs = 0, bool HyStartFall = false, bool HyStartCounted = true)
    {
        // The first new segment sent after the first echo arrived: the echo of n leaves 1.5 ms after n, 15 segments later.
        public int[] CwrOn => Cwr ?? [31, 76];
    }

    // Data segment n (1-based) leaves at 10 ms + n × 0.1 ms and its ACK comes back 1.5 ms after it.
    private static TimeSpan DataAt(int n) => TimeSpan.FromMilliseconds(10) + TimeSpan.FromTicks(n * 1000L);
    private static TimeSpan AckAt(int n) => DataAt(n) + TimeSpan.FromTicks(15_000);

    private static LabRecord Build(bool userTcpSends, Run run)
    {
        var b = userTcpSends ? new RecordBuilder(Ephemeral, Port) : new RecordBuilder(Port, Ephemeral);
        b.KernelSettings["tcp_ecn"] = "1";
        TcpFlags asks = run.AgreeInHandshake ? TcpFlags.Ece | TcpFlags.Cwr : TcpFlags.None, agrees = run.AgreeInHandshake ? TcpFlags.Ece : TcpFlags.None;
        if (userTcpSends)
        {
            b.FromUserTcp(TimeSpan.Zero, 0, TcpFlags.Syn | asks, null);
            b.FromKernel(TimeSpan.FromMilliseconds(1), 0, TcpFlags.Syn | TcpFlags.Ack | agrees, 1);
            b.FromUserTcp(TimeSpan.FromMilliseconds(2), 1, TcpFlags.Ack, 1);
        }
        else
        {
            b.FromKernel(TimeSpan.Zero, 0, TcpFlags.Syn | asks, null);
            b.FromUserTcp(TimeSpan.FromMilliseconds(1), 0, TcpFlags.Syn | TcpFlags.Ack | agrees, 1);
            b.FromKernel(TimeSpan.FromMilliseconds(2), 1, TcpFlags.Ack, 1);
        }
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        FaultRule mark = FaultRule.Parse($"mark {(userTcpSends ? "to-kernel" : "from-kernel")} data port={Port} nth=15..16");
        b.Reading(TimeSpan.FromMilliseconds(5), sender, "tcpi_snd_ssthresh", int.MaxValue);
        b.Reading(TimeSpan.FromMilliseconds(5), sender, "tcpi_snd_cwnd", 10);
        if (run.HyStartFall)
        {
            // HyStart ends slow start at cwnd 20 before the first mark is sent: ssthresh = cwnd, no CWR (hystart_update).
            b.Reading(DataAt(12), sender, "tcpi_snd_ssthresh", 20);
            foreach ((string name, long value) in run.HyStartCounted ? [("TcpExtTCPHystartDelayDetect", 1), ("TcpExtTCPHystartDelayCwnd", 20)] : Array.Empty<(string, long)>())
            {
                if (userTcpSends) b.UserTcpCounters[name] = value;
                else b.Reading(AckAt(Segments) + TimeSpan.FromMilliseconds(1), LabSide.Kernel, name, value);
            }
        }
        b.Reading(DataAt(29), sender, "tcpi_snd_cwnd", 30);
        b.Reading(AckAt(15) + TimeSpan.FromTicks(1), sender, "tcpi_snd_ssthresh", 15);
        b.Reading(AckAt(60) + TimeSpan.FromTicks(1), sender, "tcpi_snd_ssthresh", 8);

        // Events in time order: the ACK of n joins the data at its instant.
        var events = new List<(TimeSpan At, int N, bool Ack)>();
        for (int n = 1; n <= Segments; n++) events.AddRange([(DataAt(n), n, false), (AckAt(n), n, true)]);
        bool demand = false;
        foreach ((TimeSpan at, int n, bool isAck) in events.OrderBy(x => x.At).ThenBy(x => x.Ack))
        {
            uint seq = (uint)(1 + (n - 1) * Mss);
            if (!isAck)
            {
                TcpFlags flags = run.CwrOn.Contains(n) ? TcpFlags.Ack | TcpFlags.Cwr : TcpFlags.Ack;
                // UserTcp's engine logs each cut just before the CWR that announces it.
                if (userTcpSends && run.CwrOn.Contains(n)) b.Event(Cut(at - TimeSpan.FromTicks(1)));
                if (userTcpSends) b.FromUserTcp(at, seq, flags, 1, Mss);
                else b.FromKernel(at, seq, flags, 1, Mss);
                bool ce = MarkedAt.Contains(n);
                b.LastEcn(ce ? EcnCodepoint.Ce : run.NotEct ? EcnCodepoint.NotEct : EcnCodepoint.Ect0, ce ? mark : null);
                if (run.Resend && n == 100)
                {
                    if (userTcpSends) b.FromUserTcp(at + TimeSpan.FromTicks(1), seq, TcpFlags.Ack, 1, Mss);
                    else b.FromKernel(at + TimeSpan.FromTicks(1), seq, TcpFlags.Ack, 1, Mss);
                    b.LastEcn(EcnCodepoint.NotEct);
                }
                continue;
            }
            // The receiver: a CWR clears the echo, a CE sets it (Linux's order); without EchoUntilCwr it echoes once per CE.
            if (run.CwrOn.Contains(n)) demand = false;
            bool marked = MarkedAt.Contains(n);
            if (marked) demand = true;
            bool echo = run.EchoUntilCwr ? demand : marked;
            TcpFlags ackFlags = echo ? TcpFlags.Ack | TcpFlags.Ece : TcpFlags.Ack;
            uint acked = (uint)(1 + n * Mss);
            if (userTcpSends) b.FromKernel(at, 1, ackFlags, acked);
            else b.FromUserTcp(at, 1, ackFlags, acked);
            if (userTcpSends && run.ReadLateMs > 0) b.LastReadAt(at + TimeSpan.FromMilliseconds(run.ReadLateMs));
        }
        for (int i = 0; i < run.ExtraCuts; i++) b.Event(Cut(DataAt(150 + i)));
        if (run.Read) b.Mark(AckAt(Segments) + TimeSpan.FromMilliseconds(1), userTcpSends ? LabSide.Kernel : LabSide.UserTcp, $"read {Ecn.Size} bytes, as written");
        if (!userTcpSends)
        {
            b.Reading(AckAt(Segments) + TimeSpan.FromMilliseconds(1), LabSide.Kernel, "TcpRetransSegs", run.Resend ? 1 : 0);
            b.Reading(AckAt(Segments) + TimeSpan.FromMilliseconds(1), LabSide.Kernel, "TcpExtTCPDeliveredCE", 19);
        }
        return b.Build("ecn", userTcpSends ? LabRole.UserTcpActive : LabRole.UserTcpPassive);
    }

    private static TcpEvent Cut(TimeSpan at) => new(at, TcpEventKind.CongestionWindowReduced, default, TcpState.Established, TcpState.Established, TcpCause.EcnEcho);

    private static LabVerdict Judge(bool userTcpSends, Run run) => LabCatalog.Find("ecn")!.Judge(Build(userTcpSends, run));

    private static IReadOnlyList<Expectation> Failed(LabVerdict verdict) => [.. verdict.Expectations.Where(e => !e.Passed)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Two_windows_of_marks_answered_by_two_cwrs_and_echoed_until_each_passes(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends, new Run());

        Assert.Empty(Failed(verdict));
        string sender = userTcpSends ? "UserTcp" : "the kernel";
        Assert.Contains($"with ECN agreed in the handshake ({(userTcpSends ? "UserTcp" : "the kernel")} asked; the kernel's tcp_ecn=1; congestion control: the kernel reno, UserTcp cubic)", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("The link marked 3 of them CE instead of dropping them (seq 20273, seq 21721, seq 85433).", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains($"Window 1, 2 marks (seq 20273, seq 21721): the first ECE reached {sender} at 0.013 s; "
            + (userTcpSends ? "its engine cut the window once 0.1 ms later (ECN echo: cwnd reduced once for the window, nothing resent (RFC 3168 §6.1.2))" : "it cut its window once")
            + $", ssthresh then 15 segments, and set CWR on seq 43441, {(userTcpSends ? "0.0" : "0.1")} ms later.", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("The echoes of its other mark came within the same window and cut nothing more.", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("Window 2, the mark on seq 85433:", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("ssthresh over the transfer: ∞ → 15 → 8 segments.", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("3 mark(s) in 2 window(s); 2 CWR(s) (seq 43441, seq 108601)", verdict.Expectations.Single(e => e.What.Contains("once per window", StringComparison.Ordinal)
            || e.What.Contains("one CWR per window", StringComparison.Ordinal)).Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// The cut's instant is the engine pass's, taken before that pass read the ECE from the device (13.1 ms against a read at
    /// 13.6 ms here): printed each to the millisecond, the cut (0.013 s) came before the echo that caused it (0.014 s). The
    /// cut is told after the echo instead, to the tenth of a millisecond, and within one millisecond of it too.
    /// </summary>
    [Theory]
    [InlineData(0.6, "its engine cut the window once in the pass that read it (stamped with the pass's start, 0.5 ms before the read)")]
    [InlineData(0.02, "its engine cut the window once 0.1 ms later")]
    public void The_cut_is_never_told_before_the_echo_that_caused_it(double readLateMs, string cut)
    {
        LabVerdict verdict = Judge(userTcpSends: true, new Run(ReadLateMs: readLateMs));

        Assert.Empty(Failed(verdict));
        Assert.Contains($"the first ECE reached UserTcp at {(readLateMs > 0.5 ? "0.014" : "0.013")} s; {cut} (ECN echo", verdict.Observed, StringComparison.Ordinal);
        Assert.DoesNotContain("cut the window once at", verdict.Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// CUBIC's HyStart may end the sender's slow start before the marks (ssthresh ∞ → 20, no CWR): the third fall is
    /// HyStart's, which the sender counts (TCPHystartDelayDetect), and the cuts' own ssthresh is read past it; a fall
    /// nobody counted still fails the ssthresh expectation, and only that.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_fall_hystart_counted_before_the_marks_is_not_taken_for_a_cut(bool userTcpSends)
    {
        LabVerdict verdict = Judge(userTcpSends, new Run(HyStartFall: true));

        Assert.Empty(Failed(verdict));
        string sender = userTcpSends ? "UserTcp" : "the kernel";
        Assert.Contains("ssthresh ∞ → 20 → 15 → 8 segments (3 fall(s)); HyStart ended slow start 1 time(s) (at cwnd 20)",
            verdict.Expectations.Single(e => e.What.Contains("ssthresh", StringComparison.Ordinal)).Observed, StringComparison.Ordinal);
        Assert.Contains(", ssthresh then 15 segments, and set CWR on seq 43441", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains($"HyStart (CUBIC's delay and ACK-train tests) had ended {sender}'s slow start once, at cwnd 20", verdict.Observed, StringComparison.Ordinal);

        Expectation only = Assert.Single(Failed(Judge(userTcpSends, new Run(HyStartFall: true, HyStartCounted: false))));
        Assert.StartsWith($"{sender[0..1].ToUpperInvariant()}{sender[1..]}'s window falls at the marks", only.What, StringComparison.Ordinal);
        Assert.EndsWith("(3 fall(s)); HyStart ended slow start 0 time(s)", only.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void The_senders_time_sequence_graph_puts_a_diamond_on_each_ce_segment_and_a_square_on_each_cwr()
    {
        LabRecord r = Build(userTcpSends: false, new Run());
        string directory = Path.Combine(Path.GetTempPath(), $"usertcp-ecn-graph-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        try
        {
            FourTuple c = r.Connections[0];
            LabGraphs.TimeSequence(r, c, LabSide.Kernel, Path.Combine(directory, "kernel"));
            LabGraphs.TimeSequence(r, c, LabSide.UserTcp, Path.Combine(directory, "usertcp"));
            string kernel = File.ReadAllText(Path.Combine(directory, "kernel.svg")), userTcp = File.ReadAllText(Path.Combine(directory, "usertcp.svg"));

            Assert.Equal(3, Count(kernel, $"fill=\"{LabGraphs.CeColor}\""));
            Assert.Contains("arrived CE-marked (3)", kernel, StringComparison.Ordinal);
            Assert.Contains("CWR: window reduced (2)", kernel, StringComparison.Ordinal);
            // UserTcp sent no data: nothing of the kind on its graph.
            Assert.Equal(0, Count(userTcp, $"fill=\"{LabGraphs.CeColor}\""));
            Assert.DoesNotContain("CWR:", userTcp, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static int Count(string text, string what) =>
        (text.Length - text.Replace(what, "", StringComparison.OrdinalIgnoreCase).Length) / what.Length;

    [Fact]
    public void A_sender_that_cuts_for_each_mark_fails_once_per_window_alone()
    {
        Expectation only = Assert.Single(Failed(Judge(userTcpSends: true, new Run(Cwr: [31, 32, 76]))));

        Assert.Equal("UserTcp answers each window of marks once, not each mark: one CWR per window (RFC 3168 §6.1.2)", only.What);
        Assert.Equal("3 mark(s) in 2 window(s); 3 CWR(s) (seq 43441, seq 44889, seq 108601)", only.Observed);
    }

    [Fact]
    public void Usertcp_whose_engine_logs_a_cut_it_never_announced_fails_that_alone()
    {
        Expectation only = Assert.Single(Failed(Judge(userTcpSends: true, new Run(ExtraCuts: 1))));

        Assert.Equal("UserTcp's engine logs one reduction per CWR it sent, each for the ECN echo", only.What);
        Assert.StartsWith("3 reduction event(s) (", only.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_receiver_that_echoes_only_the_marked_segments_ack_fails_the_echo_alone()
    {
        Expectation only = Assert.Single(Failed(Judge(userTcpSends: false, new Run(EchoUntilCwr: false))));

        Assert.StartsWith("UserTcp echoes ECE on every ACK from the first CE it received until the kernel's CWR reached it", only.What, StringComparison.Ordinal);
        Assert.Contains("against the rule: ack 24617 at 0.013 s did not echo", only.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_resend_fails_nothing_resent_and_not_ect_data_fails_ect0()
    {
        Expectation resent = Assert.Single(Failed(Judge(userTcpSends: false, new Run(Resend: true))));
        Assert.Equal("Nothing is lost and nothing is resent: the marks stood in for drops", resent.What);
        Assert.Equal("1 segment(s) sent again on the link, 0 dropped; the kernel's TcpRetransSegs 1; UserTcp's retransmission events 0", resent.Observed);

        Expectation notEct = Assert.Single(Failed(Judge(userTcpSends: true, new Run(NotEct: true))));
        Assert.StartsWith("UserTcp sends its data ECT(0) (RFC 3168 §5)", notEct.What, StringComparison.Ordinal);
        Assert.Contains("197 other (seq 1 Not-ECT, seq 1449 Not-ECT, seq 2897 Not-ECT)", notEct.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_handshake_without_ecn_fails_and_so_does_data_not_read_as_written()
    {
        IReadOnlyList<Expectation> failed = Failed(Judge(userTcpSends: true, new Run(AgreeInHandshake: false, Read: false)));

        Assert.Equal(["ECN is agreed: UserTcp's SYN carries ECE and CWR, the SYN-ACK ECE alone (RFC 3168 §6.1.1)", "All the bytes arrive, once and in order"],
            failed.Select(e => e.What));
        Assert.Equal("SYN [S], SYN-ACK [S.]", failed[0].Observed);
    }
}
