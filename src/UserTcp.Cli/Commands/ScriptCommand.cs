using System.CommandLine;
using UserTcp.Script;

namespace UserTcp.Cli.Commands;

/// <summary>`usertcp script`: runs a packetdrill-style script against UserTcp in process, on a manual clock.</summary>
internal static class ScriptCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo[]>("FILE.pkt")
        {
            Description = "The script: packetdrill syntax, < for segments the script sends, > for segments UserTcp must send. "
                + "Several run one after the other, each line of output starting with the script's path as given",
            Arity = ArgumentArity.OneOrMore,
        };
        file.Validators.Add(result =>
        {
            foreach (FileInfo info in result.GetValueOrDefault<FileInfo[]>() ?? [])
            {
                if (!info.Exists) result.AddError($"no script at '{info.FullName}'");
            }
        });
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "Print every line as it runs, each segment in script syntax, and the engine's state changes and timers",
        };
        var relaxed = new Option<bool>("--relaxed")
        {
            Description = "Do not compare outbound windows, and compare options as a set of what UserTcp implements "
                + "(for scripts written against Linux)",
        };

        var define = new Option<string[]>("--define", "-D")
        {
            Description = "SYMBOL=value: the script's word SYMBOL reads as value, as packetdrill's -D (repeatable; upstream's run_all.py "
                + "passes TFO_COOKIE, CMSG_LEVEL_IP and CMSG_TYPE_RECVERR this way)",
            AllowMultipleArgumentsPerToken = false,
        };
        define.Validators.Add(result =>
        {
            foreach (string definition in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (definition.IndexOf('=', StringComparison.Ordinal) <= 0) result.AddError($"--define takes SYMBOL=value, not '{definition}'");
            }
        });

        var option = new Option<string[]>("--option", "-O")
        {
            Description = "NAME=VALUE: a packetdrill command-line option (--NAME=VALUE), applied as if the script began with it; its own "
                + "option lines win (repeatable; gVisor runs its scripts with -O tolerance_usecs=100000)",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("script",
            "Run a packetdrill-compatible script against UserTcp in process, on a manual clock (no root, no TUN device): "
            + "it passes when every segment UserTcp sends matches the script's > lines at their times and every call returns what the script says. "
            + "The grammar is in docs/scripts.md; the corpus is under tests/scripts/.")
        {
            file,
            verbose,
            relaxed,
            define,
            option,
        };
        command.SetAction(parsed => Run(parsed.GetRequiredValue(file), parsed.GetValue(verbose), parsed.GetValue(relaxed), parsed.GetValue(define) ?? [], parsed.GetValue(option) ?? []));
        return command;
    }

    /// <summary>Runs each script; exit 1 when any failed. One script's lines start with its name, several scripts' with their paths.</summary>
    private static int Run(FileInfo[] files, bool verbose, bool relaxed, string[] defines, string[] options)
    {
        int failed = 0;
        ScriptOption[] commandLine = [.. options.Select(o => o.Split('=', 2)).Select(o => new ScriptOption(0, o[0].TrimStart('-'), o.Length > 1 ? o[1] : null))];
        foreach (FileInfo file in files)
        {
            if (Run(file, files.Length == 1 ? file.Name : file.ToString(), verbose, relaxed, defines, commandLine) != 0) failed++;
        }
        return failed == 0 ? 0 : 1;
    }

    private static int Run(FileInfo file, string name, bool verbose, bool relaxed, string[] defines, ScriptOption[] commandLine)
    {
        var options = new ScriptRunOptions
        {
            Relaxed = relaxed,
            CommandLineOptions = commandLine,
            Defines = defines.Select(d => d.Split('=', 2)).GroupBy(d => d[0], StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last()[1], StringComparer.Ordinal),
            Trace = verbose ? line => Console.Out.WriteLine(line) : null,
        };
        ScriptResult result = ScriptRunner.RunFile(file.FullName, options);
        foreach (string notice in result.Notices) Console.Error.WriteLine($"{name}: notice: {notice}");
        if (result.Failure is { } failure)
        {
            Console.Error.WriteLine($"{name}: {failure}");
            return 1;
        }
        Console.Out.WriteLine($"{name}: pass ({EventTime.Seconds(result.EndTime)} s of script time)");
        return 0;
    }
}
