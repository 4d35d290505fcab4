using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The lab's --rto-formula against the kernel: rto-backoff in the active role (UserTcp's data segment lost five times),
/// run with each formula. After the handshake's one RTT sample R, RFC 6298 gives max(R + 4·R/2, 200 ms) (200 ms while
/// R &lt; 66 ms) and Linux's tcp_set_rto R + max(4·R/2, 200 ms) (R + 200 ms while R &lt; 100 ms); the tail-loss probe
/// and the first timeout each wait one RTO, and UserTcp's engine arms the doubled one, 2·RTO, when that timeout fires.
/// On the namespace's own link R is a millisecond or two: only the engine's exact timer tells the formulas apart (the
/// link's gaps differ by less than a timer's slack), so the second pair of runs delays the kernel's packets 50 ms, where
/// the gaps on the link differ by R too: about 200 against 250 ms.
/// </summary>
public sealed class LabRtoFormulaTests(ITestOutputHelper output)
{
    private static readonly TimeSpan MinRto = TimeSpan.FromMilliseconds(200);

    [RequiresNetAdminTheory]
    [InlineData("rfc6298", 0)]
    [InlineData("linux", 0)]
    [InlineData("rfc6298", 50)]
    [InlineData("linux", 50)]
    public async Task UserTcps_first_retransmission_timeout_follows_the_formula_chosen(string name, int delayMs)
    {
        NetAdminEnvironment.Require();
        Assert.True(RtoFormulas.TryParse(name, out RtoFormula formula));
        LabScenario scenario = delayMs == 0 ? new RtoBackoff() : new DelayedRtoBackoff(delayMs);
        string captures = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");

        LabResult result = await LabRunner.RunAsync(scenario, LabRole.UserTcpActive,
            new LabOptions { CaptureDirectory = captures, NamespaceCreated = LeftBehind.Record, RtoFormula = formula });
        string description = string.Join('\n', LabText.Describe(result));
        output.WriteLine(description);
        File.Delete(result.CapturePath);

        Assert.True(result.Verdict.Passed, description);
        Assert.Equal(formula, result.Record.UserTcpConfig.RtoFormula);
        Assert.Contains($"RTO formula {name},", description, StringComparison.Ordinal);
        FourTuple c = ScenarioKit.First(result.Record);
        TimeSpan armed = ScenarioKit.UserTcpRtos(result.Record, c)[0]; // 2·RTO, armed when the first timeout fired
        TimeSpan firstGap = result.Record.Sent(c, LabSide.UserTcp).Single(t => t.Retransmissions > 0).Intervals[0]; // the probe's wait: one RTO
        string seen = string.Create(CultureInfo.InvariantCulture, $"armed {armed.TotalMilliseconds:0.###} ms, first gap {firstGap.TotalMilliseconds:0.#} ms\n{description}");
        output.WriteLine(seen[..seen.IndexOf('\n', StringComparison.Ordinal)]);
        // The handshake's RTT sample as UserTcp's engine took it: from its SYN-ACK to ESTABLISHED on the ACK, both the
        // engine's instants. On a loaded machine it can pass 66 ms, where RFC 6298's R + 4·R/2 rises above the 200 ms
        // minimum (seen in CI: R = 81 ms).
        TimeSpan rtt = HandshakeRtt(result.Record, c);
        TimeSpan rfc6298 = Max(MinRto, 3 * rtt), linux = rtt + Max(2 * rtt, MinRto);
        TimeSpan expected = formula == RtoFormula.Rfc6298 ? rfc6298 : linux;
        seen = string.Create(CultureInfo.InvariantCulture, $"handshake RTT {rtt.TotalMilliseconds:0.#} ms, expected RTO {expected.TotalMilliseconds:0.#} ms, {seen}");
        if (formula == RtoFormula.Rfc6298 && rfc6298 == MinRto)
        {
            Assert.True(armed == 2 * MinRto, seen); // the minimum bounds the whole RTO, exactly
        }
        else
        {
            // Both instants are the engine's, but an RTT sample taken from the timestamp echo is in whole milliseconds,
            // and RFC 6298's RTO is 3R: 10 ms of slack on the RTO.
            Assert.True((armed / 2 - expected).Duration() < TimeSpan.FromMilliseconds(10), seen);
        }
        if (formula == RtoFormula.Linux) Assert.True(armed / 2 > MinRto && armed / 2 - MinRto >= TimeSpan.FromMilliseconds(delayMs), seen); // never the bare 200 ms
        if (delayMs > 0 && linux - rfc6298 >= TimeSpan.FromMilliseconds(40))
        {
            // On the link: the two formulas' RTOs apart by R (up to 3R ≥ 200 ms). A timer never fires early, but a busy
            // machine fires it late (40 ms seen in CI, past the halfway line), so the link shows only the lower bounds: the
            // Linux run's wait reaches past the halfway line, and each run's wait reaches its own RTO (less the SYN-ACK's
            // stamping slack). The upper bound is the engine's exact armed RTO above.
            TimeSpan line = (rfc6298 + linux) / 2;
            Assert.True(firstGap >= expected - TimeSpan.FromMilliseconds(10), seen);
            if (formula == RtoFormula.Linux) Assert.True(firstGap >= line, seen);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    // The engine's own sample: from the instant it sent the SYN-ACK (its SegmentOut event, not the device's record of the
    // write, which a loaded machine made 22 ms later) to ESTABLISHED on the ACK.
    private static TimeSpan HandshakeRtt(LabRecord record, FourTuple c)
    {
        TimeSpan synAck = record.Events.First(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == c
            && e.Segment.Flags.HasFlag(UserTcp.Wire.TcpFlags.Syn)).Time;
        return record.UserTcpStates(c).First(s => s.State == "ESTABLISHED").At - synAck;
    }

    /// <summary>rto-backoff's active run with every packet from the kernel delayed, so the handshake's RTT sample is about the delay.</summary>
    private sealed class DelayedRtoBackoff(int delayMs) : LabScenario
    {
        private readonly RtoBackoff _inner = new();

        public override string Name => $"{_inner.Name}-delay{delayMs.ToString(CultureInfo.InvariantCulture)}ms";
        public override string Question => _inner.Question;
        public override IReadOnlyList<LabRole> Roles => [LabRole.UserTcpActive];
        public override IReadOnlyList<string> Faults(LabRole role) =>
            [.. _inner.Faults(role), string.Create(CultureInfo.InvariantCulture, $"delay={delayMs}ms from-kernel")];
        public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) => _inner.KernelSettings(role, full);
        public override TcpConfig UserTcpConfig(LabRole role, bool full) => _inner.UserTcpConfig(role, full);
        public override Task RunAsync(LabSession s) => _inner.RunAsync(s);
        public override LabVerdict Judge(LabRecord r) => _inner.Judge(r);
    }
}
