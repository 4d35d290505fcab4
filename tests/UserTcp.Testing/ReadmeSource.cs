using System.Text.RegularExpressions;

namespace UserTcp.Testing;

/// <summary>
/// The README's code examples and the test sources that compile them: a test compiles an example between
/// "// readme: NAME" and "// readme: end" and checks that the README shows exactly those lines in a csharp block.
/// </summary>
public static partial class ReadmeSource
{
    /// <summary>The checkout the tests were built from: the first directory above the test binaries that holds UserTcp.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "UserTcp.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException($"no UserTcp.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Every ```csharp block of the README, as written.</summary>
    public static IReadOnlyList<string> CSharpBlocks()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        return [.. CSharpBlock().Matches(readme).Select(m => m.Groups[1].Value)];
    }

    /// <summary>
    /// The lines of the test source <paramref name="relativePath"/> (from the repository's root) between
    /// "// readme: NAME" and "// readme: end", without their common indentation.
    /// </summary>
    public static string Region(string relativePath, string name)
    {
        string[] lines = File.ReadAllText(Path.Combine(RepositoryRoot(), relativePath)).Split('\n');
        int start = Array.FindIndex(lines, l => l.Trim() == $"// readme: {name}") + 1;
        int end = start > 0 ? Array.FindIndex(lines, start, l => l.Trim() == "// readme: end") : -1;
        if (start <= 0 || end <= start) throw new InvalidOperationException($"no readme region '{name}' in {relativePath}");
        string[] region = lines[start..end];
        int indent = region.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', region.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
