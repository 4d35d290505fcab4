using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// mtu-black-hole's verdict on records made here (no root), shaped as a real active run was: UserTcp's 1448-byte segments
/// are all lost; it resends the first on its timer, backing off, and 6 s after the first resend a timeout resends it as
/// 1024 bytes, which passes. Black-hole detection as both stacks run it passes; a resend that never shrinks, or shrinks
/// before the 3 s stall, fails.
/// </summary>
public sealed class MtuBlackHoleJudgeTests
{
    private const int Full = 1448;

    /// <param name="smallerAfter">When, after the first resend, the 1024-byte resend goes (ms); null: never.</param>
    /// <param name="backoff">Whether the full-sized resends back off.</param>
    private static LabVerdict Judge(double? smallerAfter = 6000, bool backoff = true)
    {
        var b = new RecordBuilder(5033, 40800);
        b.Handshake(Ms(0), kernelConnects: true);
        b.Event(new TcpEvent(Ms(1), TcpEventKind.StateChanged, default, TcpState.SynReceived, TcpState.Established, TcpCause.AckOfSyn));
        for (int i = 0; i < 10; i++) b.FromUserTcp(Ms(20 + 0.1 * i), (uint)(1 + i * Full), TcpFlags.Ack, 1, Full, dropped: true);
        double at = 250;
        for (int i = 0; i < 5; i++)
        {
            b.FromUserTcp(Ms(at), 1, TcpFlags.Ack, 1, Full, dropped: true);
            at += backoff ? 200 * (1 << (i + 1)) : 200;
        }
        if (smallerAfter is double after)
        {
            b.FromUserTcp(Ms(250 + after), 1, TcpFlags.Ack, 1, 1024);
            b.FromKernel(Ms(250 + after + 0.2), 1, TcpFlags.Ack, 1025);
            b.Mark(Ms(250 + after + 100), LabSide.Kernel, "read 20000 bytes");
        }
        return LabCatalog.Find("mtu-black-hole")!.Judge(b.Build("mtu-black-hole", LabRole.UserTcpActive));
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static IReadOnlyList<string> Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Fact]
    public void Detection_after_the_stall_passes()
    {
        LabVerdict verdict = Judge();
        Assert.Empty(Failed(verdict));
        Assert.Contains("6.000 s after its first resend a timeout resent it as 1024 bytes of data", verdict.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sender_that_never_shrinks_its_segments_fails()
    {
        Assert.Equal(["after a stall of at least 3.000 s (tcp_retries1's 3 doublings from 200 ms), a timeout resends the first segment smaller, and it gets through",
            "all the data arrives"], Failed(Judge(smallerAfter: null)));
    }

    [Fact]
    public void A_smaller_resend_before_the_stall_fails()
    {
        Assert.Equal(["after a stall of at least 3.000 s (tcp_retries1's 3 doublings from 200 ms), a timeout resends the first segment smaller, and it gets through"],
            Failed(Judge(smallerAfter: 1500)));
    }

    [Fact]
    public void Resends_that_do_not_back_off_fail()
    {
        Assert.Contains("the sender resends the full-sized first segment on its timer, backing off, and it is lost each time", Failed(Judge(backoff: false)));
    }
}
