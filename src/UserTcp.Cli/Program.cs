using System.CommandLine;
using UserTcp.Cli;
using UserTcp.Tun;

// Exit codes: 0 success, 1 the system refused or a check failed, 2 the command line was wrong.
if (StandardDescriptors.ClosedAtStart() is { Count: > 0 } closed)
{
    // A closed standard descriptor holds one of the runtime's own by now: refuse before anything reads or writes it
    // (with standard error among them there is nowhere to say so).
    if (closed.Contains(2)) return 2;
    string[] names = ["standard input", "standard output", "standard error"], fixes = ["</dev/null", ">/dev/null", "2>/dev/null"];
    Console.Error.WriteLine($"usertcp: {string.Join(" and ", closed.Select(fd => names[fd]))} {(closed.Count == 1 ? "is" : "are")} closed: "
        + $"redirect {(closed.Count == 1 ? "it" : "them")} ({string.Join(' ', closed.Select(fd => fixes[fd]))}) instead of closing {(closed.Count == 1 ? "it" : "them")}");
    return 2;
}
RootCommand root = CommandTree.Create();

// No response files: `@FILE` is an argument of its own (usertcp get --data @FILE, as curl's).
ParseResult parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
if (parsed.Errors.Count > 0)
{
    // The command as typed, subcommands included: "usertcp lab run".
    var names = new List<string>();
    for (System.CommandLine.Parsing.SymbolResult? at = parsed.CommandResult; at is not null; at = at.Parent)
    {
        if (at is System.CommandLine.Parsing.CommandResult { Command: not RootCommand } result) names.Insert(0, result.Command.Name);
    }
    string command = string.Join(' ', ["usertcp", .. names]);
    string message = parsed.Errors[0].Message.ReplaceLineEndings(" ").TrimEnd('.');
    Console.Error.WriteLine($"{command}: {message}; see '{command} --help'");
    return 2;
}

try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (TunException exception)
{
    Console.Error.WriteLine($"usertcp: {exception.Message}");
    return 1;
}
