using System.Diagnostics;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>PeerProgram's waits, on programs that need no namespace (no network, no root).</summary>
public sealed class PeerProgramTests
{
    [Fact]
    public void A_program_whose_output_a_child_still_holds_has_not_finished_and_its_output_is_complete_once_the_child_ends()
    {
        // The shell exits at once; the child it leaves behind holds stdout and writes to it 7 s later.
        using PeerProgram shell = PeerProgram.Start(["bash", "-c", "echo first; (sleep 7; echo late) & exit 0"], Process.Start);

        Assert.False(shell.WaitForExit(TimeSpan.FromSeconds(10)), $"taken as finished with its output still open:\n{shell.Transcript}");
        Assert.True(shell.HasExited);

        Assert.True(shell.WaitForExit(TimeSpan.FromSeconds(10)), shell.Transcript);
        Assert.Equal(["first", "late"], shell.OutputLines);
    }
}
