using System.Text.RegularExpressions;
using UserTcp.Testing;

namespace UserTcp.Services.Tests;

/// <summary>
/// Every log message of the product has an event ID of its own, in its component's range (listed in docs/design.md
/// "The engine", under Events), so a log filter or alert on an ID means one message.
/// </summary>
public sealed partial class LogEventIdTests
{
    [Fact]
    public void No_two_log_messages_share_an_event_id_and_each_component_keeps_to_its_hundred()
    {
        string src = Path.Combine(ReadmeSource.RepositoryRoot(), "src");
        var ids = new List<(int Id, string Where)>();
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string text = File.ReadAllText(file);
            string where = Path.GetRelativePath(src, file);
            ids.AddRange(LoggerMessage().Matches(text).Select(m => (int.Parse(m.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture), where)));
        }

        Assert.True(ids.Count >= 30, $"only {ids.Count} log messages found under {src}");
        Assert.All(ids.GroupBy(i => i.Id), g => Assert.True(g.Count() == 1, $"event ID {g.Key} in {string.Join(", ", g.Select(i => i.Where))}"));
        // One hundred per file of messages, and no hundred in two files.
        Assert.All(ids.GroupBy(i => i.Where), g => Assert.Single(g.Select(i => i.Id / 100).Distinct()));
        Assert.All(ids.GroupBy(i => i.Id / 100), g => Assert.Single(g.Select(i => i.Where).Distinct()));
    }

    // [LoggerMessage(EventId = 101, ...)] or [LoggerMessage(501, ...)].
    [GeneratedRegex(@"\[LoggerMessage\((?:EventId\s*=\s*)?(?<id>\d+)\s*,")]
    private static partial Regex LoggerMessage();
}
