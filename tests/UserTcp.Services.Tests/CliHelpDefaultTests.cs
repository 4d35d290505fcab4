using System.Collections;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using UserTcp.Cli;
using UserTcp.Testing;

namespace UserTcp.Services.Tests;

/// <summary>
/// Every "[default: X]" that `usertcp CMD --help` prints is a value the command accepts, meaning what leaving the option
/// out means: a reader may copy a default into a command line. (A help default the parser refused once left `bench --loss`
/// running nothing after its default was taken out to hide it.)
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class CliHelpDefaultTests
{
    // What each command needs besides its options to parse at all.
    private static readonly Dictionary<string, string[]> Arguments = new(StringComparer.Ordinal)
    {
        ["connect"] = ["10.77.0.1", "7"],
        ["get"] = ["http://10.77.0.1/"],
        ["lab run"] = ["fin-no-reply"],
        ["lab run-all"] = ["--report", "report"],
        ["script"] = [Path.Combine(ReadmeSource.RepositoryRoot(), "tests", "scripts", "close", "active-close.pkt")],
        ["bench-client"] = ["rr", "10.77.0.2", "1"],
    };

    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        foreach (string path in Paths(CommandTree.Create(), "")) data.Add(path);
        return data;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_default_the_help_prints_parses_back_to_the_default(string path)
    {
        RootCommand root = CommandTree.Create();
        string[] words = [.. path.Split(' '), .. Arguments.GetValueOrDefault(path, [])];
        Command command = Find(root, path);
        ParseResult plain = root.Parse(words);
        Assert.Empty(plain.Errors.Select(e => e.Message));

        var printed = HelpDefault().Matches(Help(root, path)).Select(m => (Name: m.Groups["name"].Value, Value: m.Groups["value"].Value)).ToList();
        foreach ((string name, string value) in printed)
        {
            Option option = command.Options.Single(o => o.Name == name || o.Aliases.Contains(name));
            ParseResult given = root.Parse([.. words, name, value]);

            Assert.True(given.Errors.Count == 0, $"usertcp {path} --help prints [default: {value}] for {name}, which it refuses: {string.Join("; ", given.Errors.Select(e => e.Message))}");
            object? meant = Value(plain, option), parsedBack = Value(given, option);
            Assert.True(SameValue(meant, parsedBack), $"usertcp {path}: {name} {value} parses to {Show(parsedBack)}, but leaving it out means {Show(meant)}");
        }
    }

    [Fact]
    public void The_commands_print_defaults_at_all()
    {
        // The check above means nothing if the pattern finds no default: serve alone prints several.
        Assert.Contains(HelpDefault().Matches(Help(CommandTree.Create(), "serve")), m => m.Groups["name"].Value == "--mtu" && m.Groups["value"].Value == "1500");
    }

    private static IEnumerable<string> Paths(Command command, string prefix)
    {
        foreach (Command sub in command.Subcommands)
        {
            string path = prefix.Length == 0 ? sub.Name : $"{prefix} {sub.Name}";
            yield return path;
            foreach (string deeper in Paths(sub, path)) yield return deeper;
        }
    }

    private static Command Find(Command root, string path) =>
        path.Split(' ').Aggregate(root, (at, name) => at.Subcommands.Single(c => c.Name == name));

    private static string Help(RootCommand root, string path)
    {
        var output = new StringWriter();
        root.Parse([.. path.Split(' '), "--help"]).Invoke(new InvocationConfiguration { Output = output });
        return output.ToString();
    }

    private static object? Value(ParseResult parsed, Option option) =>
        parsed.GetResult(option) is OptionResult result ? result.GetValueOrDefault<object?>() : null;

    private static bool SameValue(object? a, object? b) =>
        a is IEnumerable x and not string && b is IEnumerable y and not string
            ? x.Cast<object?>().SequenceEqual(y.Cast<object?>())
            : Equals(a, b);

    private static string Show(object? value) =>
        value is IEnumerable items and not string ? $"[{string.Join(", ", items.Cast<object?>())}]" : value?.ToString() ?? "nothing";

    // "  --mtu <mtu>   The MTU ... [default: 1500]" (an option may have a short alias first: "-o, --output <FILE>").
    [GeneratedRegex(@"^\s+(?:-\w, )?(?<name>--[a-z0-9-]+)\b.*\[default: (?<value>[^\]]*)\]\s*$", RegexOptions.Multiline)]
    private static partial Regex HelpDefault();
}
