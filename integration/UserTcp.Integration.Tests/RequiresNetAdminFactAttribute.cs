namespace UserTcp.Integration.Tests;

/// <summary>
/// A fact that needs root, /dev/net/tun and the programs the namespace tests run (plus the kernel peers named in
/// <paramref name="tools"/>, e.g. "curl"). Without them it is skipped with the reason, except under CI=true, where it
/// runs and fails with the reason instead.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresNetAdminFactAttribute : FactAttribute
{
    public RequiresNetAdminFactAttribute(params string[] tools)
    {
        Tools = tools;
        if (!NetAdminEnvironment.IsCi && NetAdminEnvironment.MissingPrerequisite(tools) is string reason)
        {
            Skip = reason;
        }
    }

    /// <summary>The kernel peers the test runs besides the usual ones.</summary>
    public IReadOnlyList<string> Tools { get; }
}
