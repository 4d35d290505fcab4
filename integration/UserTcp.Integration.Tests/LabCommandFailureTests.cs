using System.Globalization;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>
/// `usertcp lab run` when the machine, not the scenario, fails a run: the run's capture cannot be written (a directory
/// stands where the pcapng goes). One line says which run could not run and why, the summary counts it as not passed,
/// the exit code is 1 — and no stack trace.
/// </summary>
public sealed class LabCommandFailureTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [RequiresNetAdminFact]
    public void A_run_whose_capture_cannot_be_written_is_one_line_and_counts_as_not_passed()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"usertcp-it-labfail-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, "fin-with-ack.active.pcapng"));
            using PeerProgram lab = PeerProgram.Run(Timeout, Usertcp, "lab", "run", "fin-with-ack", "--role", "active", "--report", directory);

            Assert.True(lab.ExitCode == 1, lab.Transcript);
            string line = Assert.Single(lab.ErrorLines, l => l.Length > 0);
            Assert.StartsWith("usertcp lab: fin-with-ack (active) could not run: ", line, StringComparison.Ordinal);
            Assert.DoesNotContain(lab.OutputLines.Concat(lab.ErrorLines), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) || l.Contains("Unhandled", StringComparison.Ordinal));
            Assert.Contains("usertcp lab: 0 of 1 runs passed", lab.OutputText, StringComparison.Ordinal);
            Assert.Contains("; 1 could not run", lab.OutputText, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }
}
