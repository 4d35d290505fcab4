using System.Globalization;
using UserTcp.Engine;

namespace UserTcp.Lab;

/// <summary>Who closes first in a run: the roles a scenario plays.</summary>
public enum LabRole
{
    /// <summary>UserTcp closes first (the active closer); the kernel is the passive closer.</summary>
    UserTcpActive,
    /// <summary>The kernel closes first; UserTcp is the passive closer.</summary>
    UserTcpPassive,
    /// <summary>The question has no closer (both close at once, or nothing closes): one run covers both sides.</summary>
    Both,
}

public static class LabRoleExtensions
{
    /// <summary>"active", "passive" or "both", as `--role` takes them and files are named.</summary>
    public static string Key(this LabRole role) => role switch
    {
        LabRole.UserTcpActive => "active",
        LabRole.UserTcpPassive => "passive",
        _ => "both",
    };

    /// <summary>"UserTcp closes first", for headings.</summary>
    public static string Describe(this LabRole role) => role switch
    {
        LabRole.UserTcpActive => "UserTcp is the active closer, the kernel the passive one",
        LabRole.UserTcpPassive => "the kernel is the active closer, UserTcp the passive one",
        _ => "UserTcp and the kernel in the same run",
    };

    /// <summary>"UserTcp sends", for the headings of a scenario about a transfer, where the role picks the sender.</summary>
    public static string DescribeTransfer(this LabRole role) => role switch
    {
        LabRole.UserTcpActive => "UserTcp sends, the kernel receives",
        LabRole.UserTcpPassive => "the kernel sends, UserTcp receives",
        _ => "UserTcp and the kernel in the same run",
    };
}

/// <summary>What a seed text claims about the question, and where it says so.</summary>
public sealed record SeedClaim(string Source, string Claim);

/// <summary>
/// One lab question, run for real: UserTcp on one end of a TUN link, a kernel socket the scenario drives on the other,
/// in a namespace of the run's own, with faults on the link and short timers on both sides (unless <c>--full</c>).
/// A scenario says what it asks, which roles it plays, which kernel knobs and UserTcp timers it needs, which faults
/// it puts on the link; it drives both sides in <see cref="RunAsync"/> and judges the record in <see cref="Judge"/>.
/// </summary>
public abstract class LabScenario
{
    /// <summary>The name `usertcp lab run` takes, e.g. "last-ack-lost".</summary>
    public abstract string Name { get; }

    /// <summary>The question, in one or two sentences.</summary>
    public abstract string Question { get; }

    /// <summary>What a seed text claims, if one does.</summary>
    public virtual SeedClaim? Seed => null;

    /// <summary>The role as the run's heading says it: who closes first, or in a transfer scenario who sends.</summary>
    public virtual string DescribeRole(LabRole role) => role.Describe();

    /// <summary>The roles the question makes sense in.</summary>
    public virtual IReadOnlyList<LabRole> Roles => [LabRole.UserTcpActive, LabRole.UserTcpPassive];

    /// <summary>The longest a run may take (the default is 90 s; <c>--full</c> waits out the real timers).</summary>
    public virtual TimeSpan Bound(bool full) => full ? TimeSpan.FromMinutes(5) : TimeSpan.FromSeconds(90);

    /// <summary>Fault rules for the link, in the rule language (README "Faults on the live path").</summary>
    public virtual IReadOnlyList<string> Faults(LabRole role) => [];

    /// <summary>The kernel's knobs in the run's namespace (names under net.ipv4, values as /proc/sys takes them).</summary>
    public virtual IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) => LabDefaults.KernelSettings(full);

    /// <summary>UserTcp's timers and limits.</summary>
    public virtual TcpConfig UserTcpConfig(LabRole role, bool full) => LabDefaults.UserTcpConfig(full);

    /// <summary>Drives both sides: opens, sends, closes, waits for what the question is about.</summary>
    public abstract Task RunAsync(LabSession s);

    /// <summary>Reads the record: what was observed, what the seed said, which expectations held.</summary>
    public abstract LabVerdict Judge(LabRecord r);

    public override string ToString() => Name;
}

/// <summary>The short timers every scenario starts from, and Linux's real ones for <c>--full</c>.</summary>
public static class LabDefaults
{
    public static readonly TimeSpan ShortTimeWait = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan ShortFinWait2 = TimeSpan.FromSeconds(3);
    public const int ShortFinTimeoutSeconds = 3;
    public const int ShortOrphanRetries = 3;

    public static IReadOnlyDictionary<string, string> KernelSettings(bool full) => full
        ? new Dictionary<string, string>()
        : new Dictionary<string, string>
        {
            ["tcp_fin_timeout"] = ShortFinTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            ["tcp_orphan_retries"] = ShortOrphanRetries.ToString(CultureInfo.InvariantCulture),
            ["tcp_retries2"] = "5",
            ["tcp_syn_retries"] = "5",
            ["tcp_synack_retries"] = "2",
        };

    public static TcpConfig UserTcpConfig(bool full) => full
        ? new TcpConfig()
        : new TcpConfig
        {
            TimeWait = ShortTimeWait,
            FinWait2Timeout = ShortFinWait2,
            OrphanRetries = ShortOrphanRetries,
            DataRetries = 5,
            SynRetries = 2,
            SynAckRetries = 2,
        };
}
