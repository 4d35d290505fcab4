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

    [Fact]
    public void A_short_tool_whose_output_a_child_holds_open_still_returns_within_its_bound()
    {
        // The tool exits at once; the child it leaves keeps its stdout open for 8 s.
        var clock = Stopwatch.StartNew();
        ToolOutcome outcome = ExternalProgram.Run(ExternalProgram.Find("bash")!, TimeSpan.FromSeconds(2), "-c", "echo first; sleep 8 & exit 0");

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"returned after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(outcome.TimedOut, "its output had not ended: not a complete outcome");
        Assert.False(outcome.Succeeded);
    }

    [Fact]
    public void A_tool_that_cannot_be_started_is_an_outcome_that_says_so_not_an_exception()
    {
        // Executable by its mode, but no program (ENOEXEC: no #! line and not ELF).
        string path = Path.Combine(Path.GetTempPath(), $"usertcp-it-noexec-{Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        File.WriteAllBytes(path, [0x7f, 0x00, 0x01, 0x02]);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            ToolOutcome outcome = ExternalProgram.Run(path, TimeSpan.FromSeconds(2));

            Assert.False(outcome.Succeeded);
            Assert.False(outcome.TimedOut);
            Assert.Equal(126, outcome.ExitCode);
            Assert.StartsWith($"{path} could not be started: ", outcome.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
