namespace UserTcp.Integration.Tests;

/// <summary>The theory form of <see cref="RequiresNetAdminFactAttribute"/>: skipped with the reason without root, failing instead under CI=true.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresNetAdminTheoryAttribute : TheoryAttribute
{
    public RequiresNetAdminTheoryAttribute(params string[] tools)
    {
        if (!NetAdminEnvironment.IsCi && NetAdminEnvironment.MissingPrerequisite(tools) is string reason)
        {
            Skip = reason;
        }
    }
}
