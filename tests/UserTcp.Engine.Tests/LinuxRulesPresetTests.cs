using System.Reflection;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TcpConfig.LinuxRules turns on every switch whose default follows an RFC (or UserTcp's own choice) where Linux 6.18
/// does otherwise, and nothing else. Every property of TcpConfig is named below as one or the other, so a new one fails
/// here until someone decides which it is.
/// </summary>
public class LinuxRulesPresetTests
{
    /// <summary>The switches the preset turns, each with Linux's value.</summary>
    private static readonly Dictionary<string, object> LinuxRuleSwitches = new()
    {
        [nameof(TcpConfig.RtoFormula)] = RtoFormula.Linux,                           // tcp_rtt_estimator
        [nameof(TcpConfig.CubicArithmetic)] = CubicArithmetic.Linux,                 // tcp_cubic.c's integers
        [nameof(TcpConfig.RackRules)] = RackRules.Linux,                             // tcp_recovery.c
        [nameof(TcpConfig.SendBufferAccounting)] = SendBufferAccounting.LinuxTruesize, // skb truesize against sk_sndbuf
        [nameof(TcpConfig.ReceiveWindowModel)] = ReceiveWindowModel.Linux,           // scaling_ratio and rcv_ssthresh
        [nameof(TcpConfig.DropBeyondWindow)] = true,                                 // tcp_sequence's INVALID_END_SEQUENCE
        [nameof(TcpConfig.TsoWindowDivisor)] = 3,                                    // net.ipv4.tcp_tso_win_divisor
        [nameof(TcpConfig.SlowStartAfterIdle)] = true,                               // net.ipv4.tcp_slow_start_after_idle
        [nameof(TcpConfig.LossProbes)] = 1,                                          // one TLP per stall
        [nameof(TcpConfig.PairedProbe)] = false,                                     // a probe of one segment
        [nameof(TcpConfig.RecoveryProbe)] = false,                                   // no TLP in recovery
    };

    /// <summary>
    /// The rest: Linux's already by default, a size or limit rather than a rule, or UserTcp's own (MinProbeTimeout: a floor
    /// for a user-space stack's timer thread, where Linux's is a jiffy's granularity).
    /// </summary>
    private static readonly string[] Unchanged =
    [
        nameof(TcpConfig.InitialRto), nameof(TcpConfig.MinRto), nameof(TcpConfig.MaxRto), nameof(TcpConfig.TimeWait),
        nameof(TcpConfig.FinWait2Timeout), nameof(TcpConfig.CloseWaitTimeout), nameof(TcpConfig.DelayedAck), nameof(TcpConfig.DelayedAckMax),
        nameof(TcpConfig.SynRetries), nameof(TcpConfig.SynAckRetries), nameof(TcpConfig.DataRetries), nameof(TcpConfig.OrphanRetries),
        nameof(TcpConfig.UserTimeout), nameof(TcpConfig.KeepAlive), nameof(TcpConfig.KeepAliveIdle), nameof(TcpConfig.KeepAliveInterval),
        nameof(TcpConfig.KeepAliveCount), nameof(TcpConfig.TimeWaitRst), nameof(TcpConfig.Mss), nameof(TcpConfig.SendBufferSize),
        nameof(TcpConfig.NotSentLowWatermark), nameof(TcpConfig.DeferAccept), nameof(TcpConfig.TypeOfService), nameof(TcpConfig.Ecn),
        nameof(TcpConfig.EcnFallback), nameof(TcpConfig.PathMtuDiscovery), nameof(TcpConfig.MtuBlackHoleDetection), nameof(TcpConfig.MtuProbing), nameof(TcpConfig.MtuProbeThreshold), nameof(TcpConfig.MtuProbeInterval), nameof(TcpConfig.BaseMss),
        nameof(TcpConfig.ReceiveBufferSize),
        nameof(TcpConfig.ReceiveBufferAutoTuning), nameof(TcpConfig.MaxReceiveBufferSize), nameof(TcpConfig.NoDelay),
        nameof(TcpConfig.InitialWindowSegments), nameof(TcpConfig.LossWindowAfterOneSynRetransmission), nameof(TcpConfig.MinTsoSegments),
        nameof(TcpConfig.PacingSlowStartRatio), nameof(TcpConfig.PacingCongestionAvoidanceRatio), nameof(TcpConfig.EphemeralPortFirst),
        nameof(TcpConfig.EphemeralPortLast), nameof(TcpConfig.InitialSequenceNumber), nameof(TcpConfig.TimestampOffset),
        nameof(TcpConfig.WindowScaling), nameof(TcpConfig.Sack), nameof(TcpConfig.DuplicateSack), nameof(TcpConfig.Timestamps),
        nameof(TcpConfig.Rack), nameof(TcpConfig.Frto), nameof(TcpConfig.RecoveryUndo), nameof(TcpConfig.TailLossProbe),
        nameof(TcpConfig.MinProbeTimeout), nameof(TcpConfig.CongestionControl), nameof(TcpConfig.QuickAcks),
        nameof(TcpConfig.StartInPingPongMode), nameof(TcpConfig.SynCookies), nameof(TcpConfig.InvalidAckInterval),
        nameof(TcpConfig.ChallengeAckLimit), nameof(TcpConfig.MaxConnections), nameof(TcpConfig.MaxTimeWait),
        nameof(TcpConfig.MaxSendBufferSize), nameof(TcpConfig.MaxOutOfOrderBytes), nameof(TcpConfig.MaxBufferMemory),
        nameof(TcpConfig.FastOpen), nameof(TcpConfig.FastOpenQueueLength), nameof(TcpConfig.FastOpenKey), nameof(TcpConfig.RandomSeed),
    ];

    private static PropertyInfo[] Properties =>
        typeof(TcpConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetMethod is not null && p.Name != "EqualityContract").ToArray();

    [Fact]
    public void Every_property_of_TcpConfig_is_named_a_linux_rule_switch_or_unchanged()
    {
        string[] named = [.. LinuxRuleSwitches.Keys, .. Unchanged];
        Assert.Equal(named.Length, named.Distinct().Count());
        Assert.Equal(named.Order(StringComparer.Ordinal), Properties.Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_preset_turns_every_switch_to_linuxs_value_and_leaves_the_rest_at_the_defaults()
    {
        var defaults = new TcpConfig();
        foreach (PropertyInfo property in Properties)
        {
            object? preset = property.GetValue(TcpConfig.LinuxRules);
            object? standard = property.GetValue(defaults);
            if (LinuxRuleSwitches.TryGetValue(property.Name, out object? linux))
            {
                Assert.True(Equals(linux, preset), $"{property.Name}: {preset} under Linux's rules, {linux} expected");
                Assert.False(Equals(linux, standard), $"{property.Name}: the default is Linux's already, so it is no switch");
            }
            else
            {
                Assert.True(Equals(standard, preset), $"{property.Name}: {preset} under Linux's rules, the default {standard} expected");
            }
        }
    }

    [Fact]
    public void WithLinuxRules_keeps_a_configurations_own_settings()
    {
        var own = new TcpConfig { TimeWait = TimeSpan.FromSeconds(5), Mss = 1200, CongestionControl = CongestionControlAlgorithm.NewReno };
        TcpConfig linux = own.WithLinuxRules();
        Assert.Equal((TimeSpan.FromSeconds(5), (ushort)1200, CongestionControlAlgorithm.NewReno), (linux.TimeWait, linux.Mss, linux.CongestionControl));
        Assert.Equal(TcpConfig.LinuxRules with { TimeWait = own.TimeWait, Mss = own.Mss, CongestionControl = own.CongestionControl }, linux);
    }
}
