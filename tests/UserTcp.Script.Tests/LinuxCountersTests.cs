namespace UserTcp.Script.Tests;

/// <summary>
/// Scripts of the corpus whose exchange makes Linux count what UserTcp now counts as Linux does (delivered segments,
/// D-SACKs sent and received, lost ACKs, zero windows, data beyond the window, window and keepalive probes, loss probes that repaired a loss,
/// PAWS, discarded SACK blocks): UserTcp's counters after the script equal what `tools/linux-check/run.sh --nstat` printed for it on Linux
/// 6.18, a counter Linux did not print being 0 (so what must not count is checked too).
/// </summary>
public class LinuxCountersTests
{
    // The counters compared: the ones Linux 6.18's tcp_input.c, tcp_output.c and tcp_timer.c count where UserTcp makes the same decision.
    private static readonly string[] Compared =
    [
        "TcpExtTCPDelivered", "TcpExtTCPDeliveredCE", "TcpExtDelayedACKLost", "TcpExtTCPDSACKOldSent", "TcpExtTCPDSACKOfoSent",
        "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKOfoRecv", "TcpExtTCPDSACKRecvSegs", "TcpExtTCPDSACKIgnoredDubious", "TcpExtTCPDSACKIgnoredOld",
        "TcpExtTCPDSACKIgnoredNoUndo", "TcpExtTCPWantZeroWindowAdv", "TcpExtTCPToZeroWindowAdv", "TcpExtTCPFromZeroWindowAdv",
        "TcpExtTCPWinProbe", "TcpExtTCPKeepAlive", "TcpExtTCPLossProbeRecovery", "TcpExtPAWSEstab", "TcpExtPAWSOldAck",
        "TcpExtTCPMTUPSuccess", "TcpExtTCPMTUPFail",
        "TcpExtBeyondWindow", "TcpExtTCPSACKDiscard",
    ];

    /// <summary>Script; what linux-check --nstat printed for it (the compared counters among them); counters left out of the comparison, and why.</summary>
    public static TheoryData<string, string, string> Cases() => new()
    {
        { "handshake/passive-open.pkt", "TcpExtTCPDelivered 1", "" },
        { "handshake/active-open.pkt", "TcpExtTCPDelivered 2", "" },
        { "handshake/simultaneous-open-acks-repeated-syn.pkt", "TcpExtDelayedACKLost 1, TcpExtTCPDSACKOldSent 1, TcpExtTCPDelivered 2", "" },
        { "fastopen/client-fastopen-connect.pkt", "TcpExtTCPDelivered 5", "" },
        { "fastopen/server-syn-data-accepted.pkt", "TcpExtTCPDelivered 2", "" },
        { "tcp-info/delivered-without-sack.pkt", "TcpExtTCPDelivered 5", "" },
        { "tcp-info/delivered-with-sack.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDelivered 4, TcpExtTCPDSACKIgnoredDubious 1", "" },
        { "tcp-info/delivered-ce.pkt", "TcpExtTCPDelivered 3, TcpExtTCPDeliveredCE 2", "" },
        { "ecn/ece-reduces-cwnd-once.pkt", "TcpExtTCPDelivered 13, TcpExtTCPDeliveredCE 3", "" },
        { "close/last-ack-retransmission.pkt", "TcpExtTCPDelivered 1", "" },
        { "close/linger-zero-abort.pkt", "TcpExtTCPDelivered 1", "" },
        { "delayed-ack/duplicate-data-acked-at-once.pkt", "TcpExtDelayedACKLost 1", "" },
        { "delayed-ack/duplicate-data-ends-pingpong.pkt", "TcpExtDelayedACKLost 1, TcpExtTCPDelivered 1", "" },
        { "sack/dsack-reports-duplicates.pkt", "TcpExtDelayedACKLost 1, TcpExtTCPDSACKOldSent 1, TcpExtTCPDSACKOfoSent 1", "" },
        { "sack/resent-fin-draws-dsack.pkt", "TcpExtDelayedACKLost 2, TcpExtTCPDSACKOldSent 2", "" },
        { "sack/tail-loss-probe.pkt", "TcpExtTCPDelivered 4", "" },
        { "sack/tail-loss-probe-repairs-last-segment.pkt", "TcpExtTCPLossProbeRecovery 1, TcpExtTCPDelivered 5", "" },
        { "sack/tail-loss-probe-dsacked.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDSACKIgnoredNoUndo 1, TcpExtTCPDelivered 6, TcpExtTCPDSACKRecvSegs 1", "" },
        { "sack/receiver-four-blocks-without-timestamps.pkt", "TcpExtDelayedACKLost 1, TcpExtTCPDSACKOldSent 1", "" },
        { "sack/rto-resend-lost-again-dsack-undoes-second-cut.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDelivered 8, TcpExtTCPDSACKRecvSegs 1", "" },
        { "sack/rack-linux-sacks-of-an-ack-below-snd-una.pkt", "TcpExtTCPDelivered 7", "" },
        { "sack/rto-dsack-undo-keeps-cwnd-unused.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDelivered 2, TcpExtTCPDSACKRecvSegs 1", "" },
        { "sack/dsack-dubious-undoes-nothing.pkt", "TcpExtTCPDSACKRecv 2, TcpExtTCPDelivered 10, TcpExtTCPDSACKIgnoredDubious 2, TcpExtTCPSACKDiscard 2", "" },
        { "sack/sack-blocks-discarded.pkt", "TcpExtTCPSACKDiscard 5, TcpExtTCPDelivered 10", "" },
        { "sack/rack-linux-dsack-widens-window-on-next-delivery.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDelivered 13, TcpExtTCPDSACKRecvSegs 1", "" },
        { "sack/dsack-empty-first-block-is-dubious.pkt", "TcpExtTCPDSACKRecv 2, TcpExtTCPSACKDiscard 2, TcpExtTCPDelivered 10, TcpExtTCPDSACKIgnoredDubious 2", "" },
        { "sack/dsack-straddling-snd-una-ignored-old.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDSACKIgnoredOld 1, TcpExtTCPDelivered 12, TcpExtTCPDSACKRecvSegs 2", "" },
        { "sack/bbr-dsack-counts-delivered.pkt", "TcpExtTCPDSACKRecv 1, TcpExtTCPDSACKIgnoredNoUndo 1, TcpExtTCPDelivered 13, TcpExtTCPDSACKRecvSegs 1", "" },
        { "congestion/cubic-linux-cwnd-after-ecn-reduction.pkt", "TcpExtTCPDelivered 181, TcpExtTCPDeliveredCE 1", "" },
        { "persist/zero-window-probe.pkt", "TcpExtTCPWinProbe 3, TcpExtTCPDelivered 1", "" },
        { "persist/probe-timer-restarts-on-answer.pkt", "TcpExtTCPWinProbe 3, TcpExtTCPDelivered 1", "" },
        { "persist/probe-backoff-capped-by-retries2.pkt", "TcpExtTCPWinProbe 6, TcpExtTCPDelivered 1", "" },
        { "keepalive/keepalive-probes-and-timeout.pkt", "TcpExtTCPKeepAlive 4", "" },
        { "mtu/probe-success.pkt", "TcpExtTCPMTUPSuccess 1, TcpExtTCPDelivered 26", "" },
        { "mtu/probe-loss.pkt", "TcpExtTCPMTUPFail 1, TcpExtTCPMTUPSuccess 1, TcpExtTCPDelivered 35", "" },
        { "mtu/probe-after-black-hole.pkt", "TcpExtTCPMTUPSuccess 1, TcpExtTCPDelivered 41", "" },
        { "mtu/probe-timeout.pkt", "TcpExtTCPDelivered 27", "" },
        { "mtu/probe-timeout-without-sack.pkt", "TcpExtTCPDelivered 40", "" },
        { "retransmission/loss-phase-holds-without-sack.pkt", "TcpExtTCPDelivered 6", "" },
        { "timestamps/paws-drops-old-segment.pkt", "TcpExtPAWSEstab 1", "" },
        { "timestamps/paws-old-ack-and-old-data.pkt", "TcpExtPAWSEstab 1, TcpExtPAWSOldAck 1, TcpExtDelayedACKLost 1, TcpExtTCPDSACKOldSent 1", "" },
        // Linux 6.18 drops the segment that carries the ACK of our data (beyond the zero window with data queued) before
        // tcp_ack, where UserTcp takes the ACK (RFC 9293 §3.10.7.4), so nothing is delivered there; both count its data
        // beyond the window. Linux's TCPFromZeroWindowAdv is the RST of packetdrill's exit closing the socket with data
        // unread (the emptied buffer's window, a rise from zero), a close UserTcp's runner does not make
        // (rst/active-reset-carries-window.pkt makes it and counts it).
        { "engine-fixes/zero-window-segment-still-acks.pkt", "TcpExtBeyondWindow 1, TcpExtTCPFromZeroWindowAdv 1, TcpExtTCPToZeroWindowAdv 1, TcpExtTCPWantZeroWindowAdv 1", "TcpExtTCPDelivered,TcpExtTCPFromZeroWindowAdv" },
        { "persist/receiver-zero-window.pkt", "TcpExtBeyondWindow 1, TcpExtTCPFromZeroWindowAdv 1, TcpExtTCPToZeroWindowAdv 1", "" },
        { "rst/active-reset-carries-window.pkt", "TcpExtTCPFromZeroWindowAdv 1, TcpExtTCPToZeroWindowAdv 1, TcpExtTCPWantZeroWindowAdv 1", "" },
        { "data/beyond-zero-window-dropped-as-linux.pkt", "TcpExtBeyondWindow 1, TcpExtTCPFromZeroWindowAdv 1, TcpExtTCPToZeroWindowAdv 1, TcpExtTCPWantZeroWindowAdv 1, TcpExtTCPDelivered 1", "TcpExtTCPFromZeroWindowAdv" },
        { "data/beyond-window-dropped-while-data-queued.pkt", "TcpExtBeyondWindow 1", "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_script_counts_as_Linux_counted_it(string script, string linuxCounted, string leftOut)
    {
        ScriptResult result = ScriptRunner.RunFile(Path.Combine(CorpusTests.ScriptsFolder, script));
        Assert.True(result.Passed, $"{script}: {result.Failure}");
        Dictionary<string, long> linux = linuxCounted.Split(", ").Select(c => c.Split(' ')).ToDictionary(c => c[0], c => long.Parse(c[1], System.Globalization.CultureInfo.InvariantCulture));
        string[] compared = [.. Compared.Where(name => !leftOut.Split(',', StringSplitOptions.RemoveEmptyEntries).Contains(name))];
        string Line(Func<string, long> count) => string.Join(", ", compared.Where(n => count(n) != 0).Select(n => $"{n} {count(n)}"));
        string expected = Line(n => linux.GetValueOrDefault(n)), actual = Line(n => result.Counters.GetValueOrDefault(n));
        Assert.True(expected == actual, $"{script}: Linux counted {expected}; UserTcp {actual}");
    }
}
