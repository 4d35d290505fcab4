namespace UserTcp.Integration.Tests;

/// <summary>Runs after every other test (see <see cref="FinalCheckLast"/>): the run left nothing behind.</summary>
[Collection(Collection)]
public sealed class FinalCheckTests
{
    public const string Collection = "Final check: nothing left behind";

    [Fact]
    public void No_namespace_interface_or_process_of_this_run_is_left_behind()
    {
        IReadOnlyList<string> survivors = LeftBehind.Survivors();

        Assert.True(survivors.Count == 0, "left behind:\n" + string.Join('\n', survivors));
    }
}
