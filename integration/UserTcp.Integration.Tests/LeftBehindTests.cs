using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>What the final check (<see cref="LeftBehind"/>) takes for this run's leftovers.</summary>
public sealed class LeftBehindTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [RequiresNetAdminFact("unshare", "nsenter", "python3")]
    public void A_process_in_a_later_namespace_that_took_the_number_of_one_this_run_made_is_not_this_runs()
    {
        NetAdminEnvironment.Require();
        string host = new FileInfo("/proc/self/ns/net").LinkTarget!;
        // A stranger's namespace (another program on the machine: unshare -n)...
        using PeerProgram stranger = PeerProgram.Start("unshare", "-n", "sleep", "30");
        Assert.True(Poll.Until(() => NamespaceOf(stranger.Id) is string ns && ns != host, Timeout), stranger.Transcript);
        // ...that took the identity of one this run made and deleted: the kernel gives a freed namespace's inode number to
        // the next one made (seen: another helper's packetdrill, in unshare -n, reported as this run's leftover). The
        // earlier namespace had a cookie of its own, which no namespace has any more.
        LeftBehind.RecordIdentity(NamespaceOf(stranger.Id)!, cookie: ulong.MaxValue);

        IReadOnlyList<string> survivors = LeftBehind.Survivors();

        Assert.DoesNotContain(survivors, s => s.StartsWith($"process {stranger.Id} ", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("nsenter", "python3")]
    public void A_process_in_a_namespace_this_run_made_is_found()
    {
        NetAdminEnvironment.Require();
        using ScratchNamespace ns = ScratchNamespace.Create("it");
        LeftBehind.Record(ns.Name);
        string identity = ScratchNamespace.IdentityOf(ns.Name)!;
        using PeerProgram inside = PeerProgram.Start(["sleep", "30"], ns.Start);
        Assert.True(Poll.Until(() => NamespaceOf(inside.Id) == identity, Timeout), inside.Transcript);

        IReadOnlyList<string> survivors = LeftBehind.Survivors();

        Assert.Contains(survivors, s => s.StartsWith($"process {inside.Id} in a namespace of this run", StringComparison.Ordinal));
    }

    private static string? NamespaceOf(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/net").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
