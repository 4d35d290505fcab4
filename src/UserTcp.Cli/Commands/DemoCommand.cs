using System.CommandLine;
using UserTcp.Cli.Demo;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp demo`: UserTcp against the kernel's own clients, in a namespace made for it and removed afterwards
/// (see <see cref="DemoRun"/>). Exits 0 when every check passes, 1 when one fails, 130 when interrupted.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--size")
        {
            Description = "Bytes curl downloads from UserTcp's HTTP service (GET /bytes/N), at most 1 GiB (the demo keeps every segment's event)",
            DefaultValueFactory = _ => 10 * 1024 * 1024,
            CustomParser = OptionParsers.Int("--size", 1, 1024 * 1024 * 1024),
        };
        var echo = new Option<int>("--echo-size")
        {
            Description = "Bytes nc sends to echo before its half-close",
            DefaultValueFactory = _ => 256 * 1024,
            CustomParser = OptionParsers.Int("--echo-size", 1, 64 * 1024 * 1024),
        };
        var timeWait = new Option<double>("--time-wait")
        {
            Description = "Seconds UserTcp stays in TIME-WAIT (Linux and UserTcp's default: 60), so the demo shows it end",
            DefaultValueFactory = _ => 1,
            CustomParser = OptionParsers.Seconds("--time-wait", 60),
        };
        var pcap = new Option<string?>("--pcap")
        {
            Description = "Also write every packet in and out to this pcapng file (tcpdump -r and Wireshark read it)",
        };
        var rtoFormula = StackOptionSet.RtoFormulaOption();
        var command = new Command("demo",
            "Show UserTcp against kernel TCP: in a network namespace made for the demo (and removed afterwards, also on Ctrl-C), "
            + "run UserTcp's services on a TUN device, then the kernel's curl downloads over HTTP and checks size and SHA-256, "
            + "nc talks to echo with a half-close, and a bash client watches daytime close first. Prints each connection's "
            + "states on both sides and a ladder of its segments. Needs root, curl, nc (netcat-openbsd) and ss (iproute2). "
            + "Exits 0 only when every check passes.")
        {
            size,
            echo,
            timeWait,
            pcap,
            rtoFormula,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(pcap) is { } given && !given.Errors.Any() && result.GetValue(pcap) is string path
                && OptionParsers.NewFileProblem("--pcap", path, "demo.pcapng") is string problem)
            {
                result.AddError(problem);
            }
        });
        command.SetAction(parsed => CliErrors.Run("demo", () => RunAsync(new DemoSettings(parsed.GetValue(size), parsed.GetValue(echo),
            TimeSpan.FromSeconds(parsed.GetValue(timeWait)), parsed.GetValue(pcap), parsed.GetValue(rtoFormula)))));
        return command;
    }

    private static async Task<int> RunAsync(DemoSettings settings)
    {
        // Ctrl-C and SIGTERM become a cancellation: the demo unwinds, removes its namespace and exits 130.
        using var stop = new StopSignal();
        return await new DemoRun(settings, Console.Out).RunAsync(stop.Token).ConfigureAwait(false);
    }
}
