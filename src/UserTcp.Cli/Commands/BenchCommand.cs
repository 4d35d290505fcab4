using System.CommandLine;
using UserTcp.Engine;
using UserTcp.Cli.Bench;
using UserTcp.Live;
using UserTcp.Tun;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp bench`: UserTcp beside the kernel, in the same run. The same kernel clients talk once to UserTcp over a TUN
/// device and once to a kernel server over a veth pair of the same MTU, each in namespaces made for the run and removed
/// afterwards (also on Ctrl-C or failure): bulk both ways, request/response, connect/close and held connections. Each
/// figure is the median of several runs, with its spread, and the ratio UserTcp/kernel; --json for machines.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Every figure the bench knows, in the order it runs them.</summary>
    public static readonly string[] AllFigures = ["download", "upload", "rr", "cc", "held"];

    public static Command Create()
    {
        var size = new Option<int>("--size")
        {
            Description = $"Bytes each bulk transfer moves, at most 1 GiB; with --loss, bytes each client moves ({LossBench.DefaultSize} by default, at most {LossBench.MaxSize})",
            DefaultValueFactory = _ => 100 * 1024 * 1024,
            CustomParser = OptionParsers.Int("--size", 1, 1024 * 1024 * 1024),
        };
        var runs = new Option<int>("--runs")
        {
            Description = "Runs per figure and side; the median is reported with the smallest and largest",
            DefaultValueFactory = _ => 3,
            CustomParser = OptionParsers.Int("--runs", 1, 20),
        };
        var mtu = new Option<int>("--mtu")
        {
            Description = "MTU of both the TUN device and the veth pair",
            DefaultValueFactory = _ => TunOptions.DefaultMtu,
            CustomParser = OptionParsers.Int("--mtu", 576, 9000),
        };
        var mode = new Option<TunDeviceMode>("--device-mode")
        {
            Description = "UserTcp's TUN device: offload (TSO super-segments and partial checksums; the default) or plain",
            HelpName = "offload|plain",
            DefaultValueFactory = _ => TunDeviceMode.Offload,
            CustomParser = OptionParsers.Text<TunDeviceMode>(StackOptionSet.ParseDeviceMode),
        };
        Option<int> queues = StackOptionSet.QueuesOption();
        var figures = new Option<string[]>("--figures")
        {
            Description = "Which figures, comma-separated: download, upload (bulk, Mbit/s), rr (1-byte request/response per s), "
                + "cc (connect, 1-byte request/response, close per s), held (connections opened and echoed per s, and "
                + "UserTcp's managed memory per held connection); all by default",
            HelpName = "download,upload,rr,cc,held",
            CustomParser = OptionParsers.Text<string[]>(ParseFigures),
        };
        var seconds = new Option<double>("--seconds")
        {
            Description = "How long each rr and cc run lasts, in seconds, at most 60",
            DefaultValueFactory = _ => 3,
            CustomParser = OptionParsers.Seconds("--seconds", 60),
        };
        var connections = new Option<int>("--connections")
        {
            Description = "How many connections held opens and keeps (the client's open files are capped)",
            DefaultValueFactory = _ => 1000,
            CustomParser = OptionParsers.Int("--connections", 1, 10_000),
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (context, figures with every run) instead of the table" };
        var loss = new Option<double[]>("--loss")
        {
            Description = "Random loss in percent, each way, e.g. 1,5,10: runs the loss experiment (docs/goodput.md) at each rate instead of the figures",
            CustomParser = OptionParsers.Percentages("--loss", 50),
        };
        var parallel = new Option<int>("--parallel")
        {
            Description = "With --loss: clients at once per transfer; the transfer's time is the slowest one's",
            DefaultValueFactory = _ => 1,
            CustomParser = OptionParsers.Int("--parallel", 1, 16),
        };
        var kernelCc = new Option<string>("--kernel-cc")
        {
            Description = "Congestion control of the kernel's senders with --loss (TCP_CONGESTION): cubic, reno or bbr",
            HelpName = "cubic|reno|bbr",
            DefaultValueFactory = _ => LossBench.DefaultKernelCongestionControl,
        };
        kernelCc.AcceptOnlyFromAmong("cubic", "reno", "bbr");
        Option<CongestionControlAlgorithm> cc = StackOptionSet.CongestionControlOption(
            "UserTcp's congestion control: cubic, reno or bbr; by default the one --kernel-cc names, so with --loss like is compared with like");
        cc.DefaultValueFactory = null; // its default is --kernel-cc's choice, which the help's description says
        Option<RtoFormula> rtoFormula = StackOptionSet.RtoFormulaOption();
        var workloads = new Option<LossWorkload[]>("--workloads")
        {
            Description = "With --loss, comma-separated: download (the clients download --size bytes each), upload (they POST --size "
                + "bytes each), mixed (issue 15's: the downloads and as many --echo-size echo round trips at once); all by default",
            HelpName = "download,upload,mixed",
            CustomParser = OptionParsers.Text<LossWorkload[]>(ParseWorkloads),
        };
        var echoSize = new Option<int>("--echo-size")
        {
            Description = "With --loss: bytes each echo round trip of the mixed workload sends (and gets back)",
            DefaultValueFactory = _ => LossBench.DefaultEchoSize,
            CustomParser = OptionParsers.Int("--echo-size", 1, LossBench.MaxSize),
        };
        var command = new Command("bench",
            "Measure UserTcp beside the kernel in the same run: kernel clients talk once to UserTcp over a TUN device and once "
            + "to a kernel server over a veth pair with the same MTU, all in namespaces made for the run and removed afterwards. "
            + "download: curl GET /bytes/N; upload: nc to discard 9; rr, cc and held: a kernel-socket client (usertcp bench-client) "
            + "against echo 7. Prints the median, smallest and largest of each side and the ratio UserTcp/kernel. Needs root, "
            + "curl, nc (netcat-openbsd), python3 and ip (iproute2). With --loss, each rate drops packets at random both ways on "
            + "both paths, and the workloads become byte-checked HTTP transfers with the retransmissions and RTOs of each side "
            + "(needs iptables too).")
        {
            size,
            runs,
            mtu,
            mode,
            queues,
            figures,
            seconds,
            connections,
            json,
            loss,
            parallel,
            kernelCc,
            cc,
            rtoFormula,
            workloads,
            echoSize,
        };
        command.SetAction(parsed => CliErrors.Run("bench", async () =>
        {
            using var stop = new StopSignal();
            double[]? lossRates = parsed.GetValue(loss) is { Length: > 0 } rates ? rates : null;
            // The loss experiment's default is the issue's 20 MiB; its uploads go to POST /sha256, which Kestrel caps at 30 MB.
            int bytes = lossRates is null || parsed.GetResult(size) is { Implicit: false } ? parsed.GetValue(size) : LossBench.DefaultSize;
            if (lossRates is not null && bytes > LossBench.MaxSize)
            {
                throw new CliException(2, $"--size {bytes} is too large with --loss: uploads go to POST /sha256, which takes at most {LossBench.MaxSize} bytes");
            }
            var settings = new BenchSettings(bytes, parsed.GetValue(runs), parsed.GetValue(mtu), parsed.GetValue(mode),
                parsed.GetResult(figures) is null ? AllFigures : parsed.GetValue(figures)!, // not given: every figure
                parsed.GetValue(seconds), parsed.GetValue(connections), parsed.GetValue(json),
                parsed.GetValue(parallel), lossRates, parsed.GetValue(kernelCc)!, parsed.GetValue(queues), parsed.GetValue(echoSize),
                parsed.GetResult(workloads) is null ? null : parsed.GetValue(workloads), // not given: every workload (the parser's empty array would be none)
                parsed.GetResult(cc) is { Implicit: false } ? parsed.GetValue(cc) : SameAsKernel(parsed.GetValue(kernelCc)!),
                parsed.GetValue(rtoFormula));
            return await new BenchRun(settings, Console.Out).RunAsync(stop.Token).ConfigureAwait(false);
        }));
        return command;
    }

    /// <summary>The algorithm of UserTcp's that the kernel's --kernel-cc names (cubic, reno, bbr: UserTcp has each).</summary>
    private static CongestionControlAlgorithm SameAsKernel(string kernel) =>
        CongestionControlAlgorithms.TryParse(kernel, out CongestionControlAlgorithm algorithm) ? algorithm : CongestionControlAlgorithm.Cubic;

    private static string? ParseWorkloads(string text, out LossWorkload[] value)
    {
        string[] names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        LossWorkload[] all = Enum.GetValues<LossWorkload>();
        string? unknown = names.FirstOrDefault(n => !all.Any(w => LossBench.Name(w) == n));
        value = [.. all.Where(w => names.Contains(LossBench.Name(w)))];
        return names.Length == 0 || unknown is not null
            ? $"--workloads '{text}' names no workload{(unknown is null ? "" : $" ('{unknown}')")}: use {string.Join(',', all.Select(LossBench.Name))}"
            : null;
    }

    private static string? ParseFigures(string text, out string[] value)
    {
        value = [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct()];
        string? unknown = value.FirstOrDefault(f => !AllFigures.Contains(f));
        if (value.Length == 0 || unknown is not null)
        {
            return $"--figures '{text}' names no figure{(unknown is null ? "" : $" ('{unknown}')")}: use {string.Join(',', AllFigures)}";
        }
        value = [.. AllFigures.Where(value.Contains)];
        return null;
    }
}
