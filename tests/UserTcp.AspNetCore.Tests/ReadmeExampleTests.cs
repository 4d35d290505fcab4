using System.Text.RegularExpressions;
using UserTcp.Sockets;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>The README's HttpClient and ASP.NET Core examples: shown as compiled, and working, one against the other.</summary>
public sealed partial class ReadmeExampleTests
{
    [Theory]
    [InlineData("aspnetcore")]
    [InlineData("httpclient")]
    public void The_readme_shows_the_example_exactly_as_the_tests_compile_it(string name)
    {
        string example = Region(File.ReadAllText(SourceFile()), name);
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));

        IEnumerable<string> blocks = CSharpBlock().Matches(readme).Select(m => m.Groups[1].Value);

        Assert.Contains(example, blocks);
    }

    [Fact]
    public async Task The_readme_examples_work_one_against_the_other()
    {
        // The README's addresses: UserTcp at 10.77.0.2 (serving), and a second stack at 10.77.0.1 (fetching).
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        await using NetStack server = NetStack.Start(pipe.A, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.2") });
        await using NetStack client = NetStack.Start(pipe.B, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.1") });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task serving = ReadmeExamples.ServeAsync(server, stop.Token);
        while (!server.SnapshotListeners().Any(l => l.Local.Port == 80))
        {
            Assert.False(serving.IsCompleted, "the app stopped before it listened");
            await Task.Delay(10, stop.Token);
        }

        string hello = await ReadmeExamples.GetAsync(client);
        await stop.CancelAsync();
        await serving;

        Assert.Equal("Hello from Kestrel over UserTcp\n", hello);
    }

    /// <summary>The lines between "// readme: NAME" and "// readme: end", without their common indentation.</summary>
    private static string Region(string source, string name)
    {
        string[] lines = source.Split('\n');
        int start = Array.FindIndex(lines, l => l.Trim() == $"// readme: {name}") + 1;
        int end = Array.FindIndex(lines, start, l => l.Trim() == "// readme: end");
        Assert.True(start > 0 && end > start, $"no readme region '{name}'");
        string[] region = lines[start..end];
        int indent = region.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', region.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }

    private static string SourceFile() => Path.Combine(RepositoryRoot(), "tests", "UserTcp.AspNetCore.Tests", "ReadmeExamples.cs");

    /// <summary>The checkout the tests were built from: the first directory above the test binaries that holds UserTcp.sln.</summary>
    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "UserTcp.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException($"no UserTcp.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
