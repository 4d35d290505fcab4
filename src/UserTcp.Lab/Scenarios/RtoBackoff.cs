using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// rto-backoff: a data segment disappears into a blackhole. Role active: UserTcp sends, and the first five
/// transmissions are lost — the RTO doubles each time, then the sixth gets through and the connection recovers. Role
/// passive: the kernel sends, everything it sends is lost, and with tcp_retries2 = 3 it gives up.
/// </summary>
public sealed class RtoBackoff : LabScenario
{
    private const ushort Port = 5012;

    public override string Name => "rto-backoff";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "A data segment is lost again and again. How does the retransmission timeout grow, and does the connection recover or give up?";

    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? ["drop to-kernel data nth=1..5"]
        : ["drop from-kernel data"];

    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(base.KernelSettings(role, full)) { ["tcp_retries2"] = full ? "15" : "3" };

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            s.Mark(LabSide.UserTcp, "write 1000 bytes", c.Id);
            await c.UserTcp.WriteAsync(new byte[1000], s.Token).ConfigureAwait(false);
            byte[]? got = await KernelReadAsync(s, c.Kernel, TimeSpan.FromSeconds(s.Full ? 60 : 15)).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read() = {got?.Length ?? 0}", c.Id);
        }
        else
        {
            s.Mark(LabSide.Kernel, "send 1000 bytes", c.Id);
            c.Kernel.Send(new byte[1000]);
            await s.KernelReachesAsync(c.Id, null, TimeSpan.FromSeconds(s.Full ? 240 : 15)).ConfigureAwait(false);
            try
            {
                c.Kernel.Send(new byte[1]);
                s.Mark(LabSide.Kernel, "send() after: accepted", c.Id);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                s.Mark(LabSide.Kernel, $"send() after: fails with {e.SocketErrorCode}", c.Id);
            }
        }
        await s.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        Transmissions? data = FirstOf(r.Sent(c, sender).Where(t => !t.Flags.Contains('S', StringComparison.Ordinal)).ToList());
        string observed;
        if (userTcpSends)
        {
            IReadOnlyList<TimeSpan> rtos = UserTcpRtos(r, c);
            bool recovered = r.Marks.Any(m => m.Side == LabSide.Kernel && m.What == "read() = 1000");
            v.Expect("UserTcp sends the segment six times: five lost, the sixth delivered", data is not null && data.Times.Count == 6 && data.Dropped.Count(d => d) == 5,
                data?.Describe() ?? "no data");
            v.Expect("its RTO doubles each time (RFC 6298 §5.5)", Doubles(rtos, r.UserTcpConfig.MaxRto), $"RTOs armed {List(rtos)}");
            v.Expect("the connection recovers: the kernel reads the 1000 bytes", recovered, string.Join("; ", r.Marks.Where(m => m.Side == LabSide.Kernel).Select(m => m.What)));
            // A lone segment's first resend is a tail-loss probe in the timeout's place (RFC 8985 §7), as the kernel's is: its gap is not an RTO's.
            int probes = r.UserTcpRetransmissions(c).Count(e => e.Cause == TcpCause.TailLossProbe);
            observed = $"UserTcp sent 1000 bytes into a blackhole that swallowed the first five transmissions: {data?.Describe() ?? "none"} "
                + $"(gaps {(data is null ? "-" : Intervals(data))}). "
                + (probes > 0 ? $"Its engine named {(probes == 1 ? "the first resend a tail-loss probe" : $"{probes} resends tail-loss probes")} (RFC 8985 §7), sent in a timeout's place; " : "")
                + $"{(probes > 0 ? "it" : "Its engine")} armed RTOs of {List(rtos)}: each timeout doubles the next (RFC 6298 §5.5, "
                + $"from {FirstRto(r.UserTcpConfig)}). The sixth transmission got through, the kernel read the data and the next ACK ended the backoff. " + Sampling(r);
        }
        else
        {
            IReadOnlyList<StateSpan> kernel = r.KernelStates(c);
            LabMark? after = r.Marks.FirstOrDefault(m => m.What.StartsWith("send() after", StringComparison.Ordinal));
            (bool backsOff, string backoff) = TimerBacksOff(r, c, LabSide.Kernel, data);
            v.Expect("the kernel retransmits with a growing timeout", data is not null && data.Retransmissions >= 3 && backsOff,
                data is null ? "no data" : $"{data.Describe()}; {backoff}");
            v.Expect("with tcp_retries2 = 3 it gives up: the socket leaves the table", kernel.Count > 0 && kernel[^1].State == "(gone)", LabRecord.Path(kernel));
            v.Expect("giving up sends no RST", r.From(c, LabSide.Kernel, p => p.Segment.Has(TcpFlags.Rst)).Count == 0, "no RST from the kernel");
            v.Expect("the application learns of it: its next send fails (ETIMEDOUT)", after?.What.Contains("TimedOut", StringComparison.Ordinal) == true, after?.What ?? "-");
            TimeSpan lasted = data is null || kernel.Count == 0 ? TimeSpan.Zero : kernel[^1].At - data.Times[0];
            observed = $"The kernel sent 1000 bytes into a blackhole: {data?.Describe() ?? "none"} (gaps {(data is null ? "-" : Intervals(data))}). "
                + "Linux's first retransmission may be a tail-loss probe (RFC 8985) rather than an RTO expiry; after that each timeout doubles. "
                + $"With tcp_retries2 = {r.KernelSettings["tcp_retries2"]} it gave up {LabRecord.Seconds(lasted)} after the first transmission, silently "
                + $"(no RST), and its application's next send failed: {after?.What ?? "-"}. " + Sampling(r);
        }
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    // Where the doubling starts on a LAN's RTT, by the formula UserTcp ran with (--rto-formula).
    private static string FirstRto(TcpConfig c) => c.RtoFormula == RtoFormula.Linux
        ? string.Create(CultureInfo.InvariantCulture, $"SRTT + {c.MinRto.TotalMilliseconds:0} ms, Linux's formula")
        : string.Create(CultureInfo.InvariantCulture, $"the {c.MinRto.TotalMilliseconds:0} ms minimum");
}
