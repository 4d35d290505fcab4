using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// fin-wait-1-zero-window's verdict on records made here (no root), shaped as a real passive run was: the kernel sends
/// 30000 bytes and closes while UserTcp's window is shut; it waits in FIN-WAIT-1 probing until UserTcp reads 3 s later.
/// Linux's behaviour passes; each departure fails its own expectations.
/// </summary>
public sealed class FinWait1ZeroWindowJudgeTests
{
    private const uint Una = 2897; // what UserTcp had acknowledged when its window shut (relative)

    /// <param name="probes">When the kernel probes (ms); each is answered 0.4 ms later unless listed in <paramref name="unanswered"/>.</param>
    /// <param name="earlyFin">The kernel sends its FIN into the shut window at 100 ms, as a sender that does not wait for the data would.</param>
    private static LabRecord Passive(double[]? probes = null, double[]? unanswered = null, bool earlyFin = false, bool shut = true)
    {
        probes ??= shut ? [260, 760, 1560] : []; // an open window needs no probe
        unanswered ??= [760]; // 499.6 ms after the answer to the first: inside the 500 ms rate limit
        var b = new RecordBuilder(5072, 40600);
        b.Handshake(Ms(0), kernelConnects: true);
        b.KernelSample(Ms(1), KernelTcpState.Established);
        b.Mark(Ms(5), LabSide.Kernel, "send 30000 bytes, close()");
        b.FromKernel(Ms(10), 1, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(10.1), 1449, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448);
        b.FromUserTcp(Ms(11), 1, TcpFlags.Ack, 1449, window: 1448);
        b.FromUserTcp(Ms(50), 1, TcpFlags.Ack, Una, window: (ushort)(shut ? 0 : 1448));
        b.KernelSample(Ms(60), KernelTcpState.FinWait1);
        if (earlyFin) b.FromKernel(Ms(100), Una, TcpFlags.Fin | TcpFlags.Ack, 1);
        foreach (double at in probes)
        {
            b.FromKernel(Ms(at), Una - 1, TcpFlags.Ack, 1);
            if (!unanswered.Contains(at)) b.FromUserTcp(Ms(at + 0.4), 1, TcpFlags.Ack, Una, window: 0);
        }
        b.Mark(Ms(3060), LabSide.UserTcp, "read() at last");
        b.FromUserTcp(Ms(3060.2), 1, TcpFlags.Ack, Una, window: 2896);
        b.FromKernel(Ms(3061), Una, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(3062), 28961, TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, 1, length: 1040);
        b.FromUserTcp(Ms(3062.5), 1, TcpFlags.Ack, 30002);
        b.KernelSample(Ms(3062.6), KernelTcpState.FinWait2);
        b.Mark(Ms(3063), LabSide.UserTcp, "read 30000 bytes and the FIN, close()");
        b.FromUserTcp(Ms(3063.1), 1, TcpFlags.Fin | TcpFlags.Ack, 30002);
        b.FromKernel(Ms(3063.3), 30002, TcpFlags.Ack, 2);
        b.KernelSample(Ms(3063.4), KernelTcpState.TimeWait);
        return b.Build("fin-wait-1-zero-window", LabRole.UserTcpPassive);
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static LabVerdict Judge(LabRecord r) => LabCatalog.Find("fin-wait-1-zero-window")!.Judge(r);

    private static string[] Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Fact]
    public void Linux_behaviour_passes_and_disagrees_with_the_seed()
    {
        LabVerdict v = Judge(Passive());

        Assert.Empty(Failed(v));
        Assert.Equal(6, v.Expectations.Count);
        Assert.Equal(SeedAgreement.Disagrees, v.Agreement);
        Assert.Contains("probed the shut window 3 times (0.260, 0.760, 1.560 s; intervals 0.500, 0.800 s), and UserTcp answered 2 of them at once", v.Observed, StringComparison.Ordinal);
        Assert.Contains("FIN-WAIT-1 lasted 3.003 s: ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT", v.Observed, StringComparison.Ordinal);
        Assert.Contains("stayed in FIN-WAIT-1 for 3.003 s", v.AgreementWhy, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fin_sent_into_the_shut_window_fails_the_wait_behind_the_data()
    {
        // The FIN is no probe either: a segment into the shut window, left unanswered.
        Assert.Equal(
            ["the kernel's close() finds data the shut window holds back: it enters FIN-WAIT-1 and sends no FIN before UserTcp reads",
             "in FIN-WAIT-1 the kernel probes the window on its persist timer, backing off, and UserTcp answers at once with its window still shut (but at most once per 500 ms: tcp_invalid_ratelimit)",
             "once UserTcp reads, the rest of the data and then the FIN go, and the close goes on: FIN-WAIT-1 ends when the FIN is acknowledged"],
            Failed(Judge(Passive(earlyFin: true))));
    }

    [Fact]
    public void A_probe_left_unanswered_outside_the_rate_limit_fails_the_answers_only()
    {
        string[] failed = Failed(Judge(Passive(unanswered: [760, 1560])));

        Assert.Equal(["in FIN-WAIT-1 the kernel probes the window on its persist timer, backing off, and UserTcp answers at once with its window still shut (but at most once per 500 ms: tcp_invalid_ratelimit)"], failed);
    }

    [Fact]
    public void Probes_that_do_not_back_off_fail_the_probing_only()
    {
        string[] failed = Failed(Judge(Passive(probes: [260, 860, 1460], unanswered: [])));

        Assert.Equal(["in FIN-WAIT-1 the kernel probes the window on its persist timer, backing off, and UserTcp answers at once with its window still shut (but at most once per 500 ms: tcp_invalid_ratelimit)"], failed);
    }

    [Fact]
    public void A_window_that_never_shut_does_not_put_the_question()
    {
        LabVerdict v = Judge(Passive(shut: false));

        Assert.Contains("UserTcp's window falls to zero while its application does not read", Failed(v));
        Assert.Equal(SeedAgreement.Inconclusive, v.Agreement);
    }
}
