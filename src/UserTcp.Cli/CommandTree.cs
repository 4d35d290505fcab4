using System.CommandLine;
using UserTcp.Cli.Commands;

namespace UserTcp.Cli;

/// <summary>Every command of `usertcp`, as Program parses them (and tests check their help against their parsers).</summary>
internal static class CommandTree
{
    public static RootCommand Create()
    {
        var root = new RootCommand("UserTcp: a userspace TCP/IPv4 stack over a Linux TUN device.")
        {
            DoctorCommand.Create(),
            CaptureCommand.Create(),
            ServeCommand.Create(),
            ConnectCommand.Create(),
            GetCommand.Create(),
            SsCommand.Create(),
            DemoCommand.Create(),
            BenchCommand.Create(),
            UserTcp.Cli.Bench.BenchClient.Create(),
            ScriptCommand.Create(),
            LabCommand.Create(),
        };
        root.SetAction(_ =>
        {
            Console.Error.WriteLine("usertcp: name a command (demo, lab, serve, connect, get, ss, bench, script, capture, doctor); see 'usertcp --help'");
            return 2;
        });
        return root;
    }
}
