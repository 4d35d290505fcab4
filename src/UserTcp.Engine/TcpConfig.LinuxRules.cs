namespace UserTcp.Engine;

/// <summary>
/// The Linux-rules preset: every switch whose default follows an RFC (or UserTcp's own choice) where Linux 6.18 does
/// otherwise, turned to Linux's way, so one setting compares UserTcp with the kernel like with like (docs/design.md
/// "Linux's rules in one setting"). Defaults that are Linux's already stay as they are.
/// </summary>
public sealed partial record TcpConfig
{
    /// <summary>The defaults with every Linux-rule switch on (<see cref="WithLinuxRules"/>).</summary>
    public static TcpConfig LinuxRules { get; } = new TcpConfig().WithLinuxRules();

    /// <summary>
    /// This configuration with every Linux-rule switch on: Linux's RTO estimator (<see cref="RtoFormula"/>), CUBIC's
    /// integer arithmetic (<see cref="CubicArithmetic"/>), RACK's rules (<see cref="RackRules"/>), skb memory as the send
    /// buffer's measure (<see cref="SendBufferAccounting"/>), Linux's receive window (<see cref="ReceiveWindowModel"/>) and its drop of data past it (<see cref="DropBeyondWindow"/>), TSO deferral at tcp_tso_win_divisor 3
    /// (<see cref="TsoWindowDivisor"/>), the restart window after idle (<see cref="SlowStartAfterIdle"/>), and one loss
    /// probe of one segment per stall, none in recovery (<see cref="LossProbes"/>, <see cref="PairedProbe"/>,
    /// <see cref="RecoveryProbe"/>). Everything else is kept.
    /// </summary>
    public TcpConfig WithLinuxRules() => this with
    {
        RtoFormula = RtoFormula.Linux,
        CubicArithmetic = CubicArithmetic.Linux,
        RackRules = RackRules.Linux,
        SendBufferAccounting = SendBufferAccounting.LinuxTruesize,
        ReceiveWindowModel = ReceiveWindowModel.Linux,
        DropBeyondWindow = true,
        TsoWindowDivisor = LinuxTsoWindowDivisor,
        SlowStartAfterIdle = true,
        LossProbes = 1,
        PairedProbe = false,
        RecoveryProbe = false,
    };

    /// <summary>Linux's net.ipv4.tcp_tso_win_divisor default.</summary>
    internal const int LinuxTsoWindowDivisor = 3;
}
