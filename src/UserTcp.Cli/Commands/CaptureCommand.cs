using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Cli.Commands;

/// <summary>`usertcp capture`: creates a TUN interface and prints what the kernel sends to it, tcpdump style.</summary>
internal static class CaptureCommand
{
    public static Command Create()
    {
        var iface = new Option<string>("--iface", "-i")
        {
            Description = "Name of the TUN interface to create (at most 15 characters)",
            DefaultValueFactory = _ => LiveDefaults.InterfaceName,
            CustomParser = OptionParsers.Text<string>(ParseName),
        };
        var address = new Option<InterfaceAddress>("--address", "-a")
        {
            Description = "Address of the kernel's side of the interface, with the prefix the kernel routes through it",
            DefaultValueFactory = _ => LiveDefaults.KernelAddress,
            CustomParser = OptionParsers.Text<InterfaceAddress>(ParseAddress),
        };
        var mtu = new Option<int>("--mtu")
        {
            Description = $"Interface MTU, {TunOptions.MinMtu} to {TunOptions.MaxMtu}",
            DefaultValueFactory = _ => TunOptions.DefaultMtu,
            CustomParser = OptionParsers.Int("--mtu", TunOptions.MinMtu, TunOptions.MaxMtu),
        };
        var count = new Option<int>("--count", "-c")
        {
            Description = "Number of packets to print before exiting",
            DefaultValueFactory = _ => 10,
            CustomParser = OptionParsers.Int("--count", 1, int.MaxValue),
        };
        var timeout = new Option<double>("--timeout", "-t")
        {
            Description = "Seconds to wait for all the packets; fewer by then is an error",
            DefaultValueFactory = _ => 30,
            CustomParser = OptionParsers.Seconds("--timeout", 86400),
        };

        var command = new Command("capture",
            "Create a TUN interface in the current network namespace and print each packet the kernel sends to it, "
            + "in tcpdump style (like tcpdump -nn -S, sequence numbers absolute). Run it inside a namespace of its own, so the host's interfaces are never touched: "
            + "ip netns add demo; ip netns exec demo usertcp capture --count 3 "
            + "(and from another shell: ip netns exec demo ping -c 3 10.77.0.2)")
        {
            iface,
            address,
            mtu,
            count,
            timeout,
        };
        command.SetAction(parsed => Run(
            new LiveStackBuilder { InterfaceName = parsed.GetRequiredValue(iface), KernelAddress = parsed.GetRequiredValue(address), Mtu = parsed.GetValue(mtu) },
            parsed.GetValue(count),
            TimeSpan.FromSeconds(parsed.GetValue(timeout))));
        return command;
    }

    private static string? ParseName(string text, out string value)
    {
        value = text;
        return TunOptions.TryValidateName(text, out string? problem) ? null : problem;
    }

    private static string? ParseAddress(string text, out InterfaceAddress value) =>
        InterfaceAddress.TryParse(text, out value)
            ? null
            : $"--address '{text}' is not an IPv4 address with a prefix length: write it as a.b.c.d/n, e.g. {LiveDefaults.KernelAddressText}";

    private static int Run(LiveStackBuilder tun, int count, TimeSpan timeout)
    {
        using IPacketDevice device = tun.OpenDevice();
        string name = tun.InterfaceName;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"listening on {name} ({tun.KernelAddress}, mtu {device.Mtu}), waiting up to {timeout.TotalSeconds} s for {count} packets"));

        var buffer = new byte[device.Mtu];
        long start = Stopwatch.GetTimestamp();
        int captured = 0;
        while (captured < count)
        {
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero || !device.WaitReadable(left))
            {
                break;
            }
            if (!device.TryRead(buffer, out int length)) continue;
            string time = DateTime.Now.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
            Console.Out.WriteLine($"{time} {PacketFormatter.Format(buffer.AsSpan(0, length))}");
            captured++;
        }

        if (captured < count)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"usertcp capture: only {captured} of {count} packets arrived on {name} within {timeout.TotalSeconds} s"));
            return 1;
        }
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{captured} packets captured"));
        return 0;
    }
}
