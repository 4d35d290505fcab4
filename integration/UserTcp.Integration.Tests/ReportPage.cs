using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>The lab report page a run's result gets (LabReport.Write), written to a scratch directory and removed again.</summary>
internal static class ReportPage
{
    /// <summary>The HTML of <paramref name="result"/>'s scenario page.</summary>
    public static string Of(LabResult result)
    {
        string directory = Directory.CreateTempSubdirectory("usertcp-it-report-").FullName;
        try
        {
            LabReport.Write([result], directory);
            return File.ReadAllText(Path.Combine(directory, $"{result.Scenario.Name}.html"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
