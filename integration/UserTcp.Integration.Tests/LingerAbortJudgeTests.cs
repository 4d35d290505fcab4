using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// linger-abort's verdict on records made here (no root), shaped as a real passive run was: the kernel sends 2896 of its
/// 20000 bytes before UserTcp's window shuts, closes with SO_LINGER 0, and UserTcp reads the 2896 bytes, then the reset.
/// Linux's behaviour passes; each departure fails its own expectations.
/// </summary>
public sealed class LingerAbortJudgeTests
{
    /// <param name="fin">The kernel closes gracefully instead: a FIN, then TIME-WAIT.</param>
    /// <param name="flushes">The kernel sends queued data after its RST.</param>
    /// <param name="rstSeq">The RST's sequence number (relative); SND.NXT is 2897.</param>
    /// <param name="secondRst">A second RST 0.1 ms after the first, without ACK, at this sequence number: the closed socket's answer to UserTcp's ACK (of 2897) that crossed the abort.</param>
    private static LabRecord Passive(bool fin = false, bool flushes = false, uint rstSeq = 2897, bool answered = false,
        string read = "read 2896 bytes, then read() = -1 ECONNRESET", uint? secondRst = null)
    {
        var b = new RecordBuilder(5073, 40700);
        b.Handshake(Ms(0), kernelConnects: true);
        b.KernelSample(Ms(1), KernelTcpState.Established);
        b.Mark(Ms(2), LabSide.Kernel, "send 20000 bytes");
        b.FromKernel(Ms(3), 1, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(3.1), 1449, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448);
        b.FromUserTcp(Ms(4), 1, TcpFlags.Ack, 2897, window: 0);
        b.Mark(Ms(50), LabSide.Kernel, LingerAbort.CloseMark);
        if (fin)
        {
            b.FromKernel(Ms(50.2), 2897, TcpFlags.Fin | TcpFlags.Ack, 1);
            b.KernelSample(Ms(50.3), KernelTcpState.FinWait1);
            b.FromUserTcp(Ms(50.5), 1, TcpFlags.Ack, 2898, window: 0);
            b.KernelSample(Ms(51), KernelTcpState.TimeWait);
        }
        else
        {
            b.FromKernel(Ms(50.2), rstSeq, TcpFlags.Rst, null);
            if (secondRst is uint seq) b.FromKernel(Ms(50.3), seq, TcpFlags.Rst, null);
            b.KernelSample(Ms(50.4), null);
        }
        if (flushes) b.FromKernel(Ms(50.3), 2897, TcpFlags.Ack, 1, length: 1448);
        if (answered) b.FromUserTcp(Ms(50.6), 1, TcpFlags.Ack, 2897, window: 0);
        b.Mark(Ms(1051), LabSide.UserTcp, read);
        return b.Build("linger-abort", LabRole.UserTcpPassive);
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static string[] Failed(LabRecord r) => [.. LabCatalog.Find("linger-abort")!.Judge(r).Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Fact]
    public void Linux_behaviour_passes_and_says_what_was_sent_and_thrown_away()
    {
        LabVerdict v = LabCatalog.Find("linger-abort")!.Judge(Passive());

        Assert.Empty(v.Expectations.Where(e => !e.Passed).Select(e => $"{e.What}: {e.Observed}"));
        Assert.Equal(6, v.Expectations.Count);
        Assert.Contains("so 2896 had been sent when it closed with SO_LINGER {on, 0 s} at 0.050 s. close() sent a RST at 0.050 s, seq 2897, and no FIN", v.Observed, StringComparison.Ordinal);
        Assert.Contains("The kernel: ESTABLISHED → (gone) — no TIME-WAIT.", v.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void UserTcps_abort_passes_although_its_engine_closes_before_the_batch_with_the_rst_is_written()
    {
        // As a real active run: CLOSED (abort) at 81 ms, the RST on the link at 84 ms.
        var b = new RecordBuilder(40800, 5073);
        b.Handshake(Ms(0), kernelConnects: false);
        b.Event(new TcpEvent(Ms(0), TcpEventKind.StateChanged, default, TcpState.Closed, TcpState.SynSent, TcpCause.Connect));
        b.Event(new TcpEvent(Ms(0.3), TcpEventKind.StateChanged, default, TcpState.SynSent, TcpState.Established));
        b.Mark(Ms(1), LabSide.UserTcp, "write 20000 bytes");
        b.FromUserTcp(Ms(2), 1, TcpFlags.Ack, 1, length: 1448);
        b.FromUserTcp(Ms(2.1), 1449, TcpFlags.Ack, 1, length: 1448);
        b.FromUserTcp(Ms(2.2), 2897, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(40), 1, TcpFlags.Ack, 4345, window: 0);
        b.Mark(Ms(81), LabSide.UserTcp, LingerAbort.CloseMark);
        b.Event(new TcpEvent(Ms(81.2), TcpEventKind.StateChanged, default, TcpState.Established, TcpState.Closed, TcpCause.Abort));
        b.FromUserTcp(Ms(84), 4345, TcpFlags.Rst | TcpFlags.Ack, 1);
        b.Mark(Ms(1085), LabSide.Kernel, "read 4344 bytes, then read() = -1 ECONNRESET");

        Assert.Empty(Failed(b.Build("linger-abort", LabRole.UserTcpActive)));
    }

    [Fact]
    public void A_graceful_close_fails_the_reset_the_sequence_number_and_the_time_wait()
    {
        Assert.Equal(
            ["the kernel's close() sends one RST and no FIN",
             "the RST carries the next sequence number to send (SND.NXT): the queued data is not counted as sent",
             "the kernel keeps no TIME-WAIT: the connection is gone at once",
             "nothing more leaves the kernel: the data still queued is thrown away, not sent",
             "UserTcp does not answer the RST",
             "UserTcp's application still reads what had arrived, then the reset (ECONNRESET)"],
            Failed(Passive(fin: true, read: "read 2896 bytes, then read() = 0")));
    }

    /// <summary>
    /// linger-abort's passive run failed once under load: the kernel's abort RST, then a second RST without ACK at
    /// seq 2897, 0.1 ms later — its answer, as a closed port, to UserTcp's ACK of 2897 sent before the abort, which it took
    /// after the socket was gone. That one is not close()'s and fails nothing; one at another sequence number still does.
    /// </summary>
    [Fact]
    public void A_closed_ports_answer_to_an_ack_that_crossed_the_abort_is_told_apart_from_the_abort()
    {
        LabVerdict v = LabCatalog.Find("linger-abort")!.Judge(Passive(secondRst: 2897));

        Assert.Empty(v.Expectations.Where(e => !e.Passed).Select(e => $"{e.What}: {e.Observed}"));
        Assert.Contains("and no FIN; 0 segments followed it (the kernel counted the abort as TcpExtTCPAbortOnData 0); then a RST without ACK at 0.050 s: the answer to the segment UserTcp sent at 0.004 s, before the abort reached it, which arrived after the socket was gone, as a closed port answers (RFC 9293 §3.10.7.1).",
            v.Observed, StringComparison.Ordinal);

        Assert.Equal(["the kernel's close() sends one RST and no FIN", "nothing more leaves the kernel: the data still queued is thrown away, not sent"],
            Failed(Passive(secondRst: 5000)));
    }

    [Fact]
    public void Data_sent_after_the_reset_fails_that_expectation_only()
    {
        Assert.Equal(["nothing more leaves the kernel: the data still queued is thrown away, not sent"], Failed(Passive(flushes: true)));
    }

    [Fact]
    public void A_reset_at_the_wrong_sequence_number_fails_that_expectation_only()
    {
        Assert.Equal(["the RST carries the next sequence number to send (SND.NXT): the queued data is not counted as sent"], Failed(Passive(rstSeq: 20001)));
    }

    [Fact]
    public void Answering_the_reset_or_losing_the_unread_data_fail_their_own_expectations()
    {
        Assert.Equal(["UserTcp does not answer the RST"], Failed(Passive(answered: true)));
        Assert.Equal(["UserTcp's application still reads what had arrived, then the reset (ECONNRESET)"], Failed(Passive(read: "read 0 bytes, then read() = -1 ECONNRESET")));
    }
}
