using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// local-queue-full's verdict on records made here (no root): a sender that handles its queue's refusals as Linux does
/// passes in either role; one that backs its retries off, one that counts the refused data as lost and retransmits it,
/// and one that does not reduce its window each fail the expectations about that, and only those.
/// </summary>
public sealed class LocalQueueFullJudgeTests
{
    /// <summary>How the sender behaves: Linux's way unless a test says otherwise.</summary>
    private sealed record Sender(bool BackOff = false, bool CountsAsLoss = false, bool CutsWindow = true);

    private const int Mss = 1448;

    /// <param name="tcTook">How long the kernel's `tc qdisc change` ran: its mark is when it started, the reading of the new limit when it returned.</param>
    private static LabRecord Record(bool userTcpSends, Sender sender, TimeSpan tcTook = default)
    {
        var b = new RecordBuilder(5060, 40000);
        b.Handshake(Ms(100), kernelConnects: true);
        LabSide side = userTcpSends ? LabSide.UserTcp : LabSide.Kernel, receiver = userTcpSends ? LabSide.Kernel : LabSide.UserTcp;
        void Data(TimeSpan at, uint seq, int length, bool refused = false)
        {
            if (userTcpSends) b.FromUserTcp(at, seq, TcpFlags.Ack | TcpFlags.Psh, 1, length);
            else b.FromKernel(at, seq, TcpFlags.Ack | TcpFlags.Psh, 1, length);
            if (refused) b.LastFault(FaultAction.Refused);
        }
        void Ack(TimeSpan at, uint ack)
        {
            if (userTcpSends) b.FromKernel(at, 1, TcpFlags.Ack, ack);
            else b.FromUserTcp(at, 1, TcpFlags.Ack, ack);
        }

        b.Reading(Ms(200), side, "tcpi_rto", 200_000);
        b.Reading(Ms(200), side, "tcpi_snd_ssthresh", int.MaxValue);
        if (!userTcpSends)
        {
            b.Mark(Ms(2000), LabSide.Kernel, "tc qdisc add dev utcp0 root pfifo limit 0");
            b.Reading(Ms(2001), LabSide.Kernel, LocalQueueFull.QdiscLimit, 0);
        }
        TimeSpan room = Ms(4000) + tcTook;
        TimeSpan write = Ms(2100);
        b.Mark(write, side, userTcpSends ? $"write {LocalQueueFull.Size} bytes" : $"send {LocalQueueFull.Size} bytes");
        if (sender.CutsWindow) b.Reading(write + Ms(1), side, "tcpi_snd_ssthresh", userTcpSends ? 7 : 5);

        // The refused first send, then the probe timer's retries: one RTO on, then every 500 ms (doubling when backed off).
        var tries = new List<TimeSpan> { write };
        TimeSpan next = write + Ms(200), gap = Ms(500);
        while (next < room)
        {
            tries.Add(next);
            next += gap;
            if (sender.BackOff) gap *= 2;
        }
        for (int i = 0; i < tries.Count; i++)
        {
            if (userTcpSends) Data(tries[i], 1, Mss, refused: true);
            if (i > 0) b.Reading(tries[i] + Ms(1), side, "tcpi_probes", i);
        }
        if (!userTcpSends)
        {
            b.Mark(Ms(4000), LabSide.Kernel, "tc qdisc change dev utcp0 root pfifo limit 1000");
            b.Reading(room, LabSide.Kernel, LocalQueueFull.QdiscLimit, 1000);
            b.Reading(room, LabSide.Kernel, "qdisc_dropped", tries.Count);
        }

        // The queue has room: the next retry sends the first segment, its ACK the rest.
        TimeSpan resume = next;
        Data(resume, 1, Mss);
        Ack(resume + Ms(1), 1 + Mss);
        b.Reading(resume + Ms(2), side, "tcpi_probes", 0);
        uint seq = 1 + Mss;
        TimeSpan at = resume + Ms(2);
        while (seq < 1 + LocalQueueFull.Size)
        {
            int length = (int)Math.Min(Mss, 1 + LocalQueueFull.Size - seq);
            Data(at, seq, length);
            seq += (uint)length;
        }
        Ack(at + Ms(1), seq);
        if (sender.CountsAsLoss)
        {
            if (userTcpSends) b.Event(new TcpEvent(resume, TcpEventKind.Retransmission, default, Cause: TcpCause.RetransmissionTimeout));
            else b.Reading(at + Ms(2), LabSide.Kernel, "TcpRetransSegs", 1);
        }
        b.Mark(at + Ms(2), receiver, $"read {LocalQueueFull.Size} bytes, as written");
        b.End = at + Ms(100);
        return b.Build("local-queue-full", userTcpSends ? LabRole.UserTcpActive : LabRole.UserTcpPassive);
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static string[] Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    private static LabVerdict Judge(bool userTcpSends, Sender sender) => LabCatalog.Find("local-queue-full")!.Judge(Record(userTcpSends, sender));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linux_behaviour_passes_in_either_role(bool userTcpSends)
    {
        LabVerdict v = Judge(userTcpSends, new Sender());
        Assert.Empty(Failed(v));
        Assert.Equal(9, v.Expectations.Count);
        Assert.Contains("5 refused in all", v.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Backed_off_retries_fail_the_interval_and_the_resumption(bool userTcpSends)
    {
        string[] failed = Failed(Judge(userTcpSends, new Sender(BackOff: true)));
        Assert.Equal(["then one every 500.0 ms, never backed off (TCP_RESOURCE_PROBE_INTERVAL)", "data reaches the link at the next retry after the queue has room, within 500.0 ms"], failed);
    }

    [Fact]
    public void A_slow_tc_counts_the_wait_from_when_the_queue_had_room_not_from_when_tc_started()
    {
        // tc ran 0.7 s (seen under load): the 4.3 s retry was still refused, the 4.8 s one went, 100 ms after tc returned.
        LabVerdict v = LabCatalog.Find("local-queue-full")!.Judge(Record(userTcpSends: false, new Sender(), tcTook: Ms(700)));

        Assert.Empty(Failed(v));
        Assert.Contains("data reaches the link at the next retry after the queue has room, within 500.0 ms — 100.0 ms after", v.Expectations.Select(e => $"{e.What} — {e.Observed}"));
        Assert.Contains("refused from 2.001 s to 4.000 s (tc gave it room by 4.700 s)", v.Observed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Counting_the_refused_data_as_lost_fails_that_expectation_only(bool userTcpSends)
    {
        Assert.Equal(["nothing is counted lost or sent twice: the data was never in flight"], Failed(Judge(userTcpSends, new Sender(CountsAsLoss: true))));
    }

    [Fact]
    public void Not_reducing_the_window_fails_that_expectation_only()
    {
        Assert.Equal(["the sender reduces its window as for congestion (CWR): its ssthresh falls"], Failed(Judge(userTcpSends: true, new Sender(CutsWindow: false))));
    }

    [Fact]
    public void Refused_tries_are_not_transmissions_on_the_link()
    {
        LabRecord r = Record(userTcpSends: true, new Sender());
        FourTuple c = r.Connections[0];
        Transmissions first = r.Sent(c, LabSide.UserTcp)[0];
        Assert.Equal(0u, first.RelativeSeq); // the SYN
        Assert.All(r.Sent(c, LabSide.UserTcp), t => Assert.Equal(0, t.Retransmissions));
        string ladder = string.Join('\n', LabLadder.Draw(r, c));
        Assert.DoesNotContain("retransmission #", ladder, StringComparison.Ordinal);
        Assert.Contains("refused by UserTcp's own queue", ladder, StringComparison.Ordinal);
        // The graphs count sendings as the ladder and Sent do: no refused try, and no sending after one, is a retransmission.
        Assert.Equal(0, Graph(r, c, LabSide.UserTcp));
        Assert.All(r.Sendings(c), s => Assert.Equal(1, s.Number));
    }

    [Fact]
    public void A_real_retransmission_after_refused_tries_is_marked_once_everywhere()
    {
        var b = new RecordBuilder(5060, 40000);
        b.Handshake(Ms(100), kernelConnects: true);
        b.FromUserTcp(Ms(200), 1, TcpFlags.Ack | TcpFlags.Psh, 1, Mss);
        b.LastFault(FaultAction.Refused);
        b.FromUserTcp(Ms(400), 1, TcpFlags.Ack | TcpFlags.Psh, 1, Mss);
        b.LastFault(FaultAction.Refused);
        b.FromUserTcp(Ms(900), 1, TcpFlags.Ack | TcpFlags.Psh, 1, Mss, dropped: true); // left, and the link lost it
        b.FromUserTcp(Ms(1100), 1, TcpFlags.Ack | TcpFlags.Psh, 1, Mss); // its retransmission
        b.FromKernel(Ms(1101), 1, TcpFlags.Ack, 1 + Mss);
        b.End = Ms(1200);
        LabRecord r = b.Build("local-queue-full", LabRole.UserTcpActive);
        FourTuple c = r.Connections[0];

        Transmissions data = r.Sent(c, LabSide.UserTcp).Single(t => t.RelativeSeq == 1);
        Assert.Equal([Ms(900), Ms(1100)], data.Times);
        string ladder = string.Join('\n', LabLadder.Draw(r, c));
        Assert.Equal(1, ladder.Split("retransmission #").Length - 1);
        Assert.Contains("retransmission #1", ladder.Split('\n').Single(l => l.Contains("    1.100", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(1, Graph(r, c, LabSide.UserTcp));
    }

    /// <summary>
    /// local-queue-full's active graph at 7e8d58d drew each refused try as a black bar, "data sent" by the legend, though
    /// none of them left UserTcp; they are tries, drawn and named as such.
    /// </summary>
    [Fact]
    public void The_graph_draws_refused_tries_as_never_sent()
    {
        LabRecord r = Record(userTcpSends: true, new Sender());
        (string svg, int markers) = LabGraphsTests.Draw(r, LabSide.UserTcp);
        Assert.Equal(0, markers);
        Assert.Contains("refused by the local queue (5)", svg, StringComparison.Ordinal);
        Assert.Contains("data sent", svg, StringComparison.Ordinal); // what went once the queue had room
    }

    // Draws the time–sequence graph of what one side sent; returns its retransmission markers.
    private static int Graph(LabRecord r, FourTuple c, LabSide sender)
    {
        string directory = Directory.CreateTempSubdirectory("usertcp-lqf-graph-").FullName;
        try
        {
            return LabGraphs.TimeSequence(r, c, sender, Path.Combine(directory, "tsg"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
