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
            Description = "Print the table as JSON",
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
        };
        command.SetAction(parsed => CliErrors.Run("ss", () => Task.FromResult(Run(
            parsed.GetRequiredValue(iface), parsed.GetValue(netns), parsed.GetValue(json)))));
        return command;
    }

    private static string? ParseIface(string text, out string value)
    {
        value = text;
        return TunOptions.TryValidateName(text, out string? problem) ? null : problem;
    }

    private static int Run(string iface, string? netns, bool json)
    {
        string? table = ControlSocket.TryQuery(iface, netns, json ? "json" : "table");
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
