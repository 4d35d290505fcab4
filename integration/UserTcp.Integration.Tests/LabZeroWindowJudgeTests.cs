using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// zero-window's verdict on records made here (no root), shaped as real runs were: the receiver's window shuts, its
/// application reads a second later, its window update is lost, and the sender's persist timer probes until a probe's
/// answer carries the open window. Each expectation must fail when the record shows its opposite.
/// </summary>
public sealed class LabZeroWindowJudgeTests
{
    private const uint Una = 2897; // what the receiver had acknowledged when its window shut (relative)

    /// <summary>
    /// A passive run (the kernel sends, UserTcp receives): UserTcp's window shuts at 50 ms; the kernel probes at
    /// <paramref name="probes"/> (ms) with <paramref name="probeLength"/> bytes (0: Linux's probe at SND.UNA − 1);
    /// UserTcp answers each, reads at 1050 ms, its update is lost (unless <paramref name="dropUpdate"/> is false), and the
    /// first probe after the read draws the open window, on which the kernel resumes (unless <paramref name="resume"/> is false).
    /// </summary>
    private static RecordBuilder Passive(double[]? probes = null, int probeLength = 0, bool dropUpdate = true, bool resume = true,
        string read = "read 30000 bytes and the FIN, as sent, close()", long? winProbes = null)
    {
        probes ??= [245, 760, 1752];
        var b = new RecordBuilder(5026, 40500);
        b.Handshake(Ms(0), kernelConnects: true);
        b.Mark(Ms(5), LabSide.Kernel, "send 30000 bytes, close()");
        b.FromKernel(Ms(10), 1, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(10.1), 1449, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448);
        b.FromUserTcp(Ms(11), 1, TcpFlags.Ack, 1449, window: 1448);
        b.FromUserTcp(Ms(50), 1, TcpFlags.Ack, Una, window: 0);
        bool readDone = false;
        foreach (double at in probes)
        {
            if (!readDone && at > 1050)
            {
                ReadAndUpdate(b, dropUpdate);
                readDone = true;
            }
            b.FromKernel(Ms(at), probeLength == 0 ? Una - 1 : Una, TcpFlags.Ack, 1, length: probeLength);
            b.FromUserTcp(Ms(at + 0.4), 1, TcpFlags.Ack, Una + (uint)(probeLength > 0 && readDone ? probeLength : 0), window: (ushort)(readDone ? 2896 : 0));
        }
        if (!readDone) ReadAndUpdate(b, dropUpdate);
        double last = probes[^1];
        if (resume)
        {
            b.FromKernel(Ms(last + 1), Una + (uint)probeLength, TcpFlags.Ack, 1, length: 1448);
            b.Mark(Ms(last + 50), LabSide.UserTcp, read);
        }
        b.KernelCounters["TcpExtTCPWinProbe"] = winProbes ?? probes.Length;
        return b;
    }

    private static void ReadAndUpdate(RecordBuilder b, bool dropUpdate)
    {
        b.Mark(Ms(1050), LabSide.UserTcp, "read() at last, halfway to the next probe");
        b.FromUserTcp(Ms(1050.2), 1, TcpFlags.Ack, Una, dropped: dropUpdate, window: 2896);
    }

    private static LabVerdict Judge(RecordBuilder b, LabRole role) => LabCatalog.Find("zero-window")!.Judge(b.Build("zero-window", role));

    private static Expectation Failed(LabVerdict verdict) => Assert.Single(verdict.Expectations, e => !e.Passed);

    [Fact]
    public void A_passive_run_recovered_by_the_kernels_third_probe_passes_and_says_when_and_how()
    {
        LabVerdict verdict = Judge(Passive(), LabRole.UserTcpPassive);

        Assert.All(verdict.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Contains("3 probes at 0.245, 0.760, 1.752 s, the first 195.0 ms after the zero window reached it, then at intervals of 0.515, 0.992 s", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("Each probe carried no data and seq 2896, SND.UNA − 1", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("UserTcp answered 3 of the 3 probes.", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("was lost on the link", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("The third probe drew the ACK that carried the open window (win 2896) at 1.752 s, and the kernel sent data again at 1.753 s: 703.0 ms after the read",
            verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("The kernel (reno) probed", verdict.Observed, StringComparison.Ordinal);
    }

    /// <summary>
    /// An active run (UserTcp sends): the kernel's window shuts at 70 ms and it answers the first and third probes only
    /// (the second came 386 ms after its last answer to an out-of-window segment, inside tcp_invalid_ratelimit's 500 ms).
    /// With <paramref name="crossingResend"/>, UserTcp's tail-loss probe resends its last segment just after the zero
    /// window reached it, before its engine took that ACK (as a real run on a busy machine did).
    /// </summary>
    private static RecordBuilder Active(bool crossingResend = false)
    {
        var b = new RecordBuilder(36741, 5026);
        b.Handshake(Ms(0), kernelConnects: false);
        b.Mark(Ms(20), LabSide.UserTcp, "write 30000 bytes, close()");
        for (uint i = 0; i < 3; i++) b.FromUserTcp(Ms(25 + i), 1 + 1448 * i, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(70), 1, TcpFlags.Ack, 4345, window: 0);
        if (crossingResend) b.FromUserTcp(Ms(73), 2897, TcpFlags.Ack, 1, length: 1448);
        b.FromUserTcp(Ms(287), 4344, TcpFlags.Ack, 1);
        b.FromKernel(Ms(287.1), 1, TcpFlags.Ack, 4345, window: 0);
        b.FromUserTcp(Ms(673), 4344, TcpFlags.Ack, 1);
        b.Mark(Ms(866), LabSide.Kernel, "read() at last, halfway to the next probe");
        b.FromKernel(Ms(866.1), 1, TcpFlags.Ack, 4345, dropped: true, window: 2896);
        b.FromUserTcp(Ms(1486), 4344, TcpFlags.Ack, 1);
        b.FromKernel(Ms(1486.1), 1, TcpFlags.Ack, 4345, window: 2896);
        b.FromUserTcp(Ms(1489), 4345, TcpFlags.Ack, 1, length: 1448);
        b.Mark(Ms(1500), LabSide.Kernel, "read 30000 bytes and the FIN, as sent, close()");
        return b;
    }

    [Fact]
    public void An_active_run_counts_the_probe_the_kernel_left_unanswered_under_its_rate_limit()
    {
        LabVerdict verdict = Judge(Active(), LabRole.UserTcpActive);

        Assert.All(verdict.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.DoesNotContain(verdict.Expectations, e => e.What.Contains("TcpExtTCPWinProbe", StringComparison.Ordinal)); // UserTcp sent the probes
        Assert.Contains("The kernel answered 2 of the 3 probes (an ACK for an out-of-window segment without data goes at most once per 500 ms", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("The third probe drew the ACK", verdict.Observed, StringComparison.Ordinal);
        Assert.Contains("UserTcp's persist interval starts at its RTO", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_resend_of_data_the_zero_window_acknowledged_is_no_probe()
    {
        LabVerdict verdict = Judge(Active(crossingResend: true), LabRole.UserTcpActive);

        Assert.All(verdict.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Contains("3 probes at 0.287, 0.673, 1.486 s", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void Probes_at_a_steady_interval_fail_the_backoff_only()
    {
        Expectation failed = Failed(Judge(Passive(probes: [260, 460, 660, 860, 1060]), LabRole.UserTcpPassive));

        Assert.StartsWith("the probes back off", failed.What, StringComparison.Ordinal);
        Assert.Equal("intervals 0.200, 0.200, 0.200, 0.200 s", failed.Observed);
    }

    [Fact]
    public void Probes_of_one_new_byte_pass_as_rfc_9293s_form_and_the_observation_says_so()
    {
        LabVerdict verdict = Judge(Passive(probeLength: 1), LabRole.UserTcpPassive);

        Assert.All(verdict.Expectations, e => Assert.True(e.Passed, $"{e.What}: {e.Observed}"));
        Assert.Contains("Each probe carried one byte of new data at seq 2897, SND.UNA, beyond the window (RFC 9293 §3.8.6.1's probe", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_segment_sent_into_the_zero_window_is_no_probe()
    {
        Expectation failed = Failed(Judge(Passive(probeLength: 1448), LabRole.UserTcpPassive));

        Assert.StartsWith("each probe asks for the window without sending into it", failed.What, StringComparison.Ordinal);
        Assert.StartsWith("0.245 s 1448 byte(s) at seq 2897; ", failed.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_whose_sender_stops_probing_hangs_and_fails()
    {
        // Two probes before the read, none after: the lost update leaves the window shut for the sender for good.
        LabVerdict verdict = Judge(Passive(probes: [245, 760], resume: false), LabRole.UserTcpPassive);

        Expectation hang = Assert.Single(verdict.Expectations, e => e.What.StartsWith("a probe's answer carries the open window", StringComparison.Ordinal));
        Assert.False(hang.Passed);
        Assert.Equal("the window never reached the sender open", hang.Observed);
        Assert.Contains("The open window never reached the kernel: the connection hung.", verdict.Observed, StringComparison.Ordinal);
        Assert.False(Assert.Single(verdict.Expectations, e => e.What.StartsWith("all the data arrives", StringComparison.Ordinal)).Passed);
    }

    [Fact]
    public void No_probe_at_all_fails_the_persist_timer()
    {
        LabVerdict verdict = Judge(Passive(probes: [1752]), LabRole.UserTcpPassive);

        Expectation probing = Assert.Single(verdict.Expectations, e => e.What.StartsWith("the kernel probes the zero window on its persist timer", StringComparison.Ordinal));
        Assert.False(probing.Passed);
        Assert.Equal("1 probe at 1.752 s, 0 before the read", probing.Observed);
    }

    [Fact]
    public void Data_duplicated_or_lost_to_the_application_fails()
    {
        Expectation failed = Failed(Judge(Passive(read: "read 31448 bytes and the FIN, not as sent: byte 2896 differs, close()"), LabRole.UserTcpPassive));

        Assert.StartsWith("all the data arrives once and in order", failed.What, StringComparison.Ordinal);
    }

    [Fact]
    public void A_window_update_that_got_through_fails_the_premise()
    {
        LabVerdict verdict = Judge(Passive(dropUpdate: false), LabRole.UserTcpPassive);

        Expectation premise = Assert.Single(verdict.Expectations, e => e.What.StartsWith("UserTcp's application reads, and its first window update is lost", StringComparison.Ordinal));
        Assert.False(premise.Passed);
        Assert.Equal("window update (win 2896) at 1.050 s, not dropped; the read at 1.050 s", premise.Observed);
    }

    [Fact]
    public void The_kernel_counting_fewer_probes_than_the_link_carried_fails()
    {
        Expectation failed = Failed(Judge(Passive(winProbes: 1), LabRole.UserTcpPassive));

        Assert.Equal("the kernel counts each probe it sent (TcpExtTCPWinProbe)", failed.What);
        Assert.Equal("TCPWinProbe 1, 3 seen before the window opened", failed.Observed);
    }

    [Fact]
    public void The_bytes_read_are_checked_against_the_bytes_sent()
    {
        byte[] sent = ZeroWindow.Pattern();
        byte[] duplicated = [.. sent[..2896], .. sent[1448..2896], .. sent[2896..]];

        Assert.Equal("30000 bytes and the FIN, as sent", ZeroWindow.Received(sent, true, sent));
        Assert.Equal("31448 bytes and the FIN, not as sent: byte 2896 differs", ZeroWindow.Received(duplicated, true, sent));
        Assert.Equal("28552 bytes and no FIN, not as sent: 30000 were sent", ZeroWindow.Received(sent[..28552], false, sent));
    }

    [Fact]
    public void The_time_sequence_graph_marks_each_probe_and_no_ack()
    {
        RecordBuilder b = Passive();
        LabRecord r = b.Build("zero-window", LabRole.UserTcpPassive);
        string directory = Directory.CreateTempSubdirectory("usertcp-zw-graph-").FullName;
        try
        {
            LabGraphs.TimeSequence(r, b.Connection, LabSide.Kernel, Path.Combine(directory, "kernel"));
            LabGraphs.TimeSequence(r, b.Connection, LabSide.UserTcp, Path.Combine(directory, "usertcp"));

            Assert.Contains("probe: no data, below the ACK (3)", File.ReadAllText(Path.Combine(directory, "kernel.svg")), StringComparison.Ordinal);
            Assert.DoesNotContain("probe:", File.ReadAllText(Path.Combine(directory, "usertcp.svg")), StringComparison.Ordinal); // UserTcp's ACKs are at SND.NXT
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
