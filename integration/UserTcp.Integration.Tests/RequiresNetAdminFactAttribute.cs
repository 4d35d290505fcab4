namespace UserTcp.Integration.Tests;

/// <summary>
/// A fact that needs root, /dev/net/tun and the programs the namespace tests run. Without them it is
/// skipped with the reason, except under CI=true, where it runs and fails with the reason instead.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresNetAdminFactAttribute : FactAttribute
{
    public RequiresNetAdminFactAttribute()
    {
        if (!NetAdminEnvironment.IsCi && NetAdminEnvironment.MissingPrerequisite() is string reason)
        {
            Skip = reason;
        }
    }
}
