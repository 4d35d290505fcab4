using System.Text.RegularExpressions;

namespace UserTcp.Link.Tests;

/// <summary>
/// Every comment that cites a document (<c>docs/design.md "The engine"</c>, <c>README "Faults on the live path"</c>) names
/// a file of this repository and, when it names a section, a heading of that file; every relative link in the
/// Markdown files points to a file that exists. A citation of a document outside the repository is a dangling one.
/// </summary>
public partial class DocReferenceTests
{
    private static readonly string[] SourceExtensions = [".cs", ".csproj", ".props", ".sh", ".py"];
    private static readonly string[] SkippedDirectories = ["bin", "obj", ".git", "node_modules"];

    [Fact]
    public void Every_cited_document_and_section_exists()
    {
        string root = RepositoryRoot();
        var dangling = new List<string>();
        int citations = 0;
        foreach (string file in Files(root, SourceExtensions).Where(f => Path.GetFileName(f) != "DocReferenceTests.cs"))
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                foreach (Match match in Citation().Matches(lines[i]))
                {
                    citations++;
                    string where = $"{Path.GetRelativePath(root, file)}:{i + 1}";
                    string cited = match.Groups["doc"].Value;
                    string? document = Resolve(root, cited);
                    if (document is null)
                    {
                        dangling.Add($"{where}: {cited} is not a file of this repository");
                    }
                    else if (match.Groups["section"].Success && !HasHeading(document, match.Groups["section"].Value))
                    {
                        dangling.Add($"{where}: {cited} has no section \"{match.Groups["section"].Value}\"");
                    }
                }
            }
        }
        Assert.True(citations > 5, $"only {citations} citations found: is the pattern still right?");
        Assert.True(dangling.Count == 0, "dangling document references:\n" + string.Join('\n', dangling));
    }

    [Fact]
    public void Every_relative_link_in_the_markdown_points_to_a_file()
    {
        string root = RepositoryRoot();
        var dangling = new List<string>();
        foreach (string file in Files(root, [".md"]))
        {
            foreach (Match match in MarkdownLink().Matches(File.ReadAllText(file)))
            {
                string target = match.Groups["target"].Value.Split('#')[0];
                if (target.Length == 0 || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                string path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target));
                if (!File.Exists(path) && !Directory.Exists(path)) dangling.Add($"{Path.GetRelativePath(root, file)}: ({target})");
            }
        }
        Assert.True(dangling.Count == 0, "links to nothing:\n" + string.Join('\n', dangling));
    }

    [Theory]
    [InlineData("see docs/design.md \"The engine\"", "docs/design.md", "The engine")]
    [InlineData("(README, \"Benchmarks\")", "README", "Benchmarks")]
    [InlineData("grammar in docs/scripts.md; packetdrill's", "docs/scripts.md", null)]
    [InlineData("DESIGN.md \"Runtime and I/O\": no hops", "DESIGN.md", "Runtime and I/O")]
    public void The_pattern_finds_citations_as_comments_write_them(string comment, string document, string? section)
    {
        Match match = Citation().Match(comment);
        Assert.True(match.Success);
        Assert.Equal(document, match.Groups["doc"].Value);
        Assert.Equal(section, match.Groups["section"].Success ? match.Groups["section"].Value : null);
    }

    // A document as written in a comment resolves against the repository root, then docs/; README means README.md.
    private static string? Resolve(string root, string cited)
    {
        string name = cited == "README" ? "README.md" : cited;
        foreach (string candidate in new[] { Path.Combine(root, name), Path.Combine(root, "docs", name) })
        {
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static bool HasHeading(string document, string section)
    {
        string wanted = Normal(section);
        return File.ReadLines(document).Where(l => l.StartsWith('#')).Any(l => Normal(l.TrimStart('#')).StartsWith(wanted, StringComparison.Ordinal));
    }

    private static string Normal(string text) => text.Replace("`", "", StringComparison.Ordinal).Trim().ToLowerInvariant();

    private static IEnumerable<string> Files(string root, string[] extensions)
    {
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out string? directory))
        {
            foreach (string sub in Directory.EnumerateDirectories(directory))
            {
                if (!SkippedDirectories.Contains(Path.GetFileName(sub))) pending.Push(sub);
            }
            foreach (string file in Directory.EnumerateFiles(directory))
            {
                if (extensions.Contains(Path.GetExtension(file))) yield return file;
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "UserTcp.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no UserTcp.sln above {AppContext.BaseDirectory}");
    }

    // A Markdown file name (with any folders), or README, optionally followed by a quoted section: `docs/design.md "The engine"`.
    [GeneratedRegex("""(?<doc>(?:[\w.-]+/)*[\w-]+\.md\b|\bREADME\b)(?:,? "(?<section>[^"]+)")?""")]
    private static partial Regex Citation();

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex MarkdownLink();
}
