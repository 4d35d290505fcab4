using System.CommandLine;
using UserTcp.Tun;

namespace UserTcp.Cli.Commands;

/// <summary>`usertcp ss`: the connection table of a running `usertcp serve`, like `ss -tano`, read through its control socket.</summary>
internal static class SsCommand
{
    public static Command Create()
    {
        var iface = new Option<string>("--iface", "-i")
        {
            Description = "The interface the serve was started on",
            DefaultValueFactory = _ => StackOptionSet.DefaultIface,
            CustomParser = OptionParsers.Text<string>(ParseIface),
        };
        var netns = new Option<string?>("--netns")
        {
            Description = "The network namespace the serve's interface is in (as given to serve --netns, or its ip netns exec); default: this one",
            CustomParser = OptionParsers.Text<string?>(StackOptionSet.ParseNetns),
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print the table (or, with --stats, every counter) as JSON",
        };
        var stats = new Option<bool>("--stats", "-s")
        {
            Description = "Print the stack's counters instead of the table, as nstat -a does, named like Linux's MIB counters "
                + "(IpInReceives, TcpExtTCPChallengeACK, TcpExtSyncookiesSent, ...; UserTcp's own start with UserTcp): every "
                + "packet refused is counted by its reason (UserTcpMalformed..., UserTcpDrop...)",
        };
        var zeros = new Option<bool>("--zeros", "-z")
        {
            Description = "With --stats: print the counters that are zero too (nstat -z)",
        };
        var command = new Command("ss",
            "Print the connection table of a running usertcp serve, like ss -tano: state, Recv-Q, Send-Q, local and peer "
            + "address, the armed timer with its time left and the retransmissions so far, RTO and congestion window; "
            + "listeners first. It asks the serve through the abstract Unix socket @usertcp/IFACE, which belongs to the "
            + "network namespace serve made its interface in: run ss there (ip netns exec NAME usertcp ss) or name it with --netns.")
        {
            iface,
            netns,
            json,
            stats,
            zeros,
        };
        command.SetAction(parsed => CliErrors.Run("ss", () => Task.FromResult(Run(
            parsed.GetRequiredValue(iface), parsed.GetValue(netns), Request(parsed.GetValue(json), parsed.GetValue(stats), parsed.GetValue(zeros))))));
        return command;
    }

    private static string? ParseIface(string text, out string value)
    {
        value = text;
        return TunOptions.TryValidateName(text, out string? problem) ? null : problem;
    }

    /// <summary>What to ask the serve for (the control socket's one-line requests).</summary>
    private static string Request(bool json, bool stats, bool zeros)
    {
        if (zeros && !stats) throw new CliException(2, "--zeros goes with --stats: usertcp ss --stats --zeros");
        if (!stats) return json ? "json" : "table";
        return json ? "stats-json" : zeros ? "stats-zeros" : "stats";
    }

    private static int Run(string iface, string? netns, string request)
    {
        string? table = ControlSocket.TryQuery(iface, netns, request);
        if (table is not null)
        {
            Console.Out.Write(table);
            return 0;
        }
        string where = netns is null ? "this network namespace" : $"namespace {netns}";
        string hint = $"start one with usertcp serve --iface {iface}, or point at its namespace with --netns NAME";
        if (netns is null)
        {
            IReadOnlyList<string> elsewhere = ControlSocket.FindNamespaces(iface);
            if (elsewhere.Count > 0) hint = $"one runs in namespace {elsewhere[0]}: usertcp ss --netns {elsewhere[0]}";
        }
        throw new CliException(1, $"no usertcp serve answers for {iface} in {where} ({ControlSocket.DisplayName(iface)}); {hint}");
    }
}
