using System.CommandLine;
using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp lab list | run NAME [--role ...] [--report DIR] [--full] | run-all --report DIR [--full]`: the teardown and
/// retransmission questions answered by experiment against the kernel (<see cref="LabRunner"/>). The command parses and
/// prints; the lab project runs, judges and writes the report.
/// </summary>
internal static class LabCommand
{
    public static Command Create()
    {
        var command = new Command("lab",
            "Answer TCP's teardown and retransmission questions by experiment: each scenario runs UserTcp against a real kernel "
            + "socket in a namespace of its own, with faults on the TUN link and short timers on both sides (--full waits out "
            + "the real ones), and shows both sides' states, a ladder of the segments, the kernel's retransmission schedule and "
            + "a verdict against what the seed texts claim. Needs root.")
        {
            ListCommand(),
            RunCommand(),
            RunAllCommand(),
        };
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("usertcp lab: name a subcommand (list, run NAME, run-all --report DIR); see 'usertcp lab --help'");
            return 2;
        });
        return command;
    }

    private static Command ListCommand()
    {
        var command = new Command("list", "List the scenarios, their roles and the question each answers");
        command.SetAction(_ =>
        {
            foreach (LabScenario scenario in LabCatalog.All)
            {
                string roles = string.Join(", ", scenario.Roles.Select(r => r.Key()));
                Console.Out.WriteLine($"{scenario.Name,-20} [{roles}] {scenario.Question}");
            }
            return 0;
        });
        return command;
    }

    private static Option<bool> FullOption() => new("--full")
    {
        Description = "Wait out the real timers (Linux's 60 s FIN-WAIT-2 and retry counts, UserTcp's defaults) instead of the short ones",
    };

    private static Option<int> SeedOption() => new("--fault-seed")
    {
        Description = "Seed for the faults' random choices",
        DefaultValueFactory = _ => 1,
        CustomParser = OptionParsers.Int("--fault-seed", 0, int.MaxValue),
    };

    private static Command RunCommand()
    {
        var name = new Argument<string>("NAME")
        {
            Description = "The scenario (usertcp lab list names them)",
            CustomParser = OptionParsers.Text<string>(ParseName),
        };
        var role = new Option<string>("--role")
        {
            Description = "active (UserTcp closes first), passive (the kernel does), or both (every role the scenario has); a scenario whose one run covers both sides (simultaneous-close, syn-lost) runs it for any role",
            DefaultValueFactory = _ => "both",
            CustomParser = OptionParsers.Text<string>(ParseRole),
        };
        var report = ReportOption(required: false);
        var settings = new RunSettings();
        var command = new Command("run", "Run one scenario in one role or all of its roles; with --report DIR, also write its HTML page, graphs and capture")
        {
            name,
            role,
            report,
        };
        settings.AddTo(command);
        command.SetAction(parsed => CliErrors.Run("lab run", () =>
        {
            LabScenario scenario = LabCatalog.Find(parsed.GetRequiredValue(name))!;
            string which = parsed.GetRequiredValue(role);
            IReadOnlyList<LabRole> roles = which == "both"
                ? scenario.Roles
                : [.. scenario.Roles.Where(r => r.Key() == which || r == LabRole.Both)];
            if (roles.Count == 0) throw new CliException(2, $"{scenario.Name} has no {which} role: its roles are {string.Join(", ", scenario.Roles.Select(r => r.Key()))}");
            return RunAsync([.. roles.Select(r => (scenario, r))], parsed.GetValue(report), settings.Read(parsed));
        }));
        return command;
    }

    private static Command RunAllCommand()
    {
        var report = ReportOption(required: true);
        var settings = new RunSettings();
        var command = new Command("run-all", "Run every scenario in every role and write the HTML report (an index and a page per scenario) to --report DIR")
        {
            report,
        };
        settings.AddTo(command);
        command.SetAction(parsed => CliErrors.Run("lab run-all", () =>
            RunAsync([.. LabCatalog.All.SelectMany(s => s.Roles.Select(r => (s, r)))], parsed.GetValue(report), settings.Read(parsed))));
        return command;
    }

    /// <summary>--cc for the lab: one algorithm on both sides, so a role's sender runs what the other role's does.</summary>
    private static Option<CongestionControlAlgorithm> CongestionOption() => StackOptionSet.CongestionControlOption(
        "The congestion control of both sides: every kernel socket of the run (TCP_CONGESTION) and UserTcp's connections: cubic (the default, Linux's), reno or bbr");

    private static Option<string?> ReportOption(bool required) => new("--report")
    {
        Description = "Write an HTML page per scenario (graphs, ladder, timeline, verdict, a link to the pcapng) and an index to this directory",
        Required = required,
        CustomParser = OptionParsers.Text<string?>(ParseDirectory),
    };

    /// <summary>
    /// The options `lab run` and `lab run-all` share, read into the runs' <see cref="LabOptions"/> (the capture directory
    /// is the run's to choose).
    /// </summary>
    private sealed class RunSettings
    {
        private readonly Option<bool> _full = FullOption();
        private readonly Option<int> _seed = SeedOption();
        private readonly Option<RtoFormula> _rtoFormula = StackOptionSet.RtoFormulaOption();
        private readonly Option<CubicArithmetic> _cubic = StackOptionSet.CubicArithmeticOption();
        private readonly Option<RackRules> _rackRules = StackOptionSet.RackRulesOption();
        private readonly Option<CongestionControlAlgorithm> _congestion = CongestionOption();
        private readonly Option<bool> _linuxRules = StackOptionSet.LinuxRulesOption();

        public void AddTo(Command command)
        {
            foreach (Option option in (Option[])[_full, _seed, _rtoFormula, _cubic, _rackRules, _congestion, _linuxRules]) command.Options.Add(option);
        }

        public LabOptions Read(ParseResult parsed) => new()
        {
            CongestionControl = parsed.GetValue(_congestion),
            Full = parsed.GetValue(_full),
            FaultSeed = parsed.GetValue(_seed),
            RtoFormula = parsed.GetValue(_rtoFormula),
            CubicArithmetic = parsed.GetValue(_cubic),
            RackRules = parsed.GetValue(_rackRules),
            LinuxRules = parsed.GetValue(_linuxRules),
        };
    }

    private static async Task<int> RunAsync(IReadOnlyList<(LabScenario Scenario, LabRole Role)> runs, string? reportDirectory, LabOptions options)
    {
        using var signal = new StopSignal();
        var results = new List<LabResult>();
        int couldNotRun = 0;
        string captures = reportDirectory ?? Path.Combine(Path.GetTempPath(), $"usertcp-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        foreach ((LabScenario scenario, LabRole role) in runs)
        {
            if (signal.Token.IsCancellationRequested) break;
            LabResult result;
            try
            {
                result = await LabRunner.RunAsync(scenario, role, options with { CaptureDirectory = captures }, signal.Token)
                    .ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is TimeoutException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                // The machine, not the scenario, failed the run (a wait past its bound on a loaded machine, a capture that
                // cannot be written): one line, and the next run goes ahead; the summary counts it as not passed.
                couldNotRun++;
                Console.Error.WriteLine($"usertcp lab: {scenario.Name} ({role.Key()}) could not run: {e.Message.ReplaceLineEndings(" ")}");
                Console.Out.WriteLine();
                continue;
            }
            results.Add(result);
            foreach (string line in LabText.Describe(result)) Console.Out.WriteLine(line);
            Console.Out.WriteLine();
        }
        if (reportDirectory is not null && results.Count > 0)
        {
            string index = LabReport.Write(results, reportDirectory);
            Console.Out.WriteLine($"report: {index}");
        }
        int failed = results.Count(r => !r.Verdict.Passed);
        string interrupted = signal.Received is string received ? $"; interrupted ({received}), cleaned up" : "";
        string notRun = couldNotRun > 0 ? string.Create(CultureInfo.InvariantCulture, $"; {couldNotRun} could not run") : "";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"usertcp lab: {results.Count - failed} of {results.Count + couldNotRun} runs passed in {results.Sum(r => r.Duration.TotalSeconds):0.0} s{notRun}{interrupted}"));
        if (signal.Received is not null) return 130;
        return failed == 0 && couldNotRun == 0 && results.Count == runs.Count ? 0 : 1;
    }

    private static string? ParseName(string text, out string value)
    {
        value = text;
        return LabCatalog.Find(text) is not null
            ? null
            : $"no scenario '{text}': choose from {string.Join(", ", LabCatalog.All.Select(s => s.Name))} (usertcp lab list)";
    }

    private static string? ParseRole(string text, out string value)
    {
        value = text;
        return text is "active" or "passive" or "both" ? null : $"--role '{text}' is not a role: use active, passive or both";
    }

    private static string? ParseDirectory(string text, out string? value)
    {
        value = text;
        if (text.Length == 0 || File.Exists(text)) return $"--report '{text}' is not a directory name: give a path such as lab-report";
        string? parent = Path.GetDirectoryName(Path.GetFullPath(text)); // after the empty check: GetFullPath throws on ""
        return parent is not null && !Directory.Exists(parent) ? $"--report '{text}': directory {parent} does not exist" : null;
    }
}
