using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Cli;

/// <summary>What `serve`, `connect` and `get` need to bring up a stack: the TUN interface, addresses, capture, logging.</summary>
internal sealed record StackSettings(
    string Iface, Ipv4Address Address, InterfaceAddress KernelAddress, int Mtu, string? Netns, string? Pcap, LogLevel LogLevel);

/// <summary>A user mistake found after parsing (exit 2) or a refusal from the system (exit 1), reported in one line.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// The options every command that runs a stack shares (--iface, --address, --kernel-address, --mtu, --netns, --pcap,
/// --log-level), with their defaults, parsers and the checks that span several of them.
/// </summary>
internal sealed class StackOptionSet
{
    public const string DefaultIface = "utcp0";
    public const string DefaultAddress = "10.77.0.2";
    public const string DefaultKernelAddress = "10.77.0.1/24";

    public Option<string> Iface { get; } = new("--iface", "-i")
    {
        Description = "Name of the TUN interface to create (at most 15 characters)",
        DefaultValueFactory = _ => DefaultIface,
        CustomParser = OptionParsers.Text<string>(ParseIface),
    };

    public Option<Ipv4Address> Address { get; } = new("--address", "-a")
    {
        Description = "UserTcp's own IPv4 address, inside the kernel side's prefix",
        DefaultValueFactory = _ => Ipv4Address.Parse(DefaultAddress),
        CustomParser = OptionParsers.Text<Ipv4Address>(ParseAddress),
    };

    public Option<InterfaceAddress> KernelAddress { get; } = new("--kernel-address", "-k")
    {
        Description = "Address of the kernel's side of the interface, with the prefix the kernel routes through it",
        DefaultValueFactory = _ => InterfaceAddress.Parse(DefaultKernelAddress),
        CustomParser = OptionParsers.Text<InterfaceAddress>(ParseKernelAddress),
    };

    public Option<int> Mtu { get; } = new("--mtu")
    {
        Description = $"Interface MTU, 576 to {TunOptions.MaxMtu}; UserTcp's MSS is the MTU less 40",
        DefaultValueFactory = _ => TunOptions.DefaultMtu,
        CustomParser = OptionParsers.Int("--mtu", 576, TunOptions.MaxMtu),
    };

    public Option<string?> Netns { get; } = new("--netns")
    {
        Description = "Create the TUN interface inside this existing network namespace (made with ip netns add NAME), so nothing "
            + "touches the host's interfaces; the alternative is to run the whole command under ip netns exec NAME",
        CustomParser = OptionParsers.Text<string?>(ParseNetns),
    };

    public Option<string?> Pcap { get; } = new("--pcap")
    {
        Description = "Write every packet in and out to this pcap file (tcpdump -r and Wireshark read it)",
    };

    public Option<LogLevel> LogLevel { get; }

    public StackOptionSet(LogLevel defaultLevel)
    {
        LogLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Log to stderr from this level on: trace (every segment), debug (state changes, requests), information, warning, error, none",
            DefaultValueFactory = _ => defaultLevel,
            CustomParser = OptionParsers.Text<LogLevel>(ParseLogLevel),
        };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Iface);
        command.Options.Add(Address);
        command.Options.Add(KernelAddress);
        command.Options.Add(Mtu);
        command.Options.Add(Netns);
        command.Options.Add(Pcap);
        command.Options.Add(LogLevel);
        command.Validators.Add(Validate);
    }

    public StackSettings Read(ParseResult parsed) => new(
        parsed.GetRequiredValue(Iface), parsed.GetValue(Address), parsed.GetValue(KernelAddress), parsed.GetValue(Mtu),
        parsed.GetValue(Netns), parsed.GetValue(Pcap), parsed.GetValue(LogLevel));

    // Checks across options; skipped when one of them already failed to parse (its error is reported already).
    private void Validate(CommandResult result)
    {
        Ipv4Address address;
        InterfaceAddress kernel;
        string? pcap;
        try
        {
            address = ValueOf(result, Address, Ipv4Address.Parse(DefaultAddress));
            kernel = ValueOf(result, KernelAddress, InterfaceAddress.Parse(DefaultKernelAddress));
            pcap = ValueOf(result, Pcap, null);
        }
        catch (InvalidOperationException)
        {
            return; // reading a value that failed to parse throws
        }
        var kernelAddress = Ipv4Address.Parse(kernel.Address.ToString());
        uint mask = kernel.PrefixLength == 0 ? 0 : uint.MaxValue << (32 - kernel.PrefixLength);
        if (address == kernelAddress)
        {
            result.AddError($"--address {address} is the kernel's own address: give UserTcp another one in {kernel}, e.g. {Neighbour(kernelAddress, mask)}");
        }
        else if (kernel.PrefixLength > 30 || (address.Value & mask) != (kernelAddress.Value & mask))
        {
            result.AddError($"--address {address} is outside --kernel-address {kernel}: the kernel routes only that prefix through the interface; "
                + $"use e.g. {Neighbour(kernelAddress, mask)}");
        }
        else if ((address.Value & ~mask) == 0 || (address.Value & ~mask) == ~mask)
        {
            result.AddError($"--address {address} is the network or broadcast address of {kernel}: use e.g. {Neighbour(kernelAddress, mask)}");
        }
        if (pcap is not null)
        {
            string? directory = Path.GetDirectoryName(Path.GetFullPath(pcap));
            if (pcap.Length == 0 || Directory.Exists(pcap)) result.AddError($"--pcap '{pcap}' is not a file name: give a path such as run.pcap");
            else if (directory is not null && !Directory.Exists(directory)) result.AddError($"--pcap '{pcap}': directory {directory} does not exist");
        }
    }

    /// <summary>An option's value inside a command validator, which runs before defaults are filled in.</summary>
    internal static T ValueOf<T>(CommandResult result, Option<T> option, T fallback) =>
        result.GetResult(option) is null ? fallback : result.GetValue(option)!;

    private static Ipv4Address Neighbour(Ipv4Address kernel, uint mask)
    {
        uint host = (kernel.Value & ~mask) == 1 ? 2u : 1u;
        return new Ipv4Address((kernel.Value & mask) | host);
    }

    private static string? ParseIface(string text, out string value)
    {
        value = text;
        return TunOptions.TryValidateName(text, out string? problem) ? null : problem;
    }

    private static string? ParseAddress(string text, out Ipv4Address value) =>
        Ipv4Address.TryParse(text, out value) ? null : $"--address '{text}' is not an IPv4 address: write it as a.b.c.d, e.g. {DefaultAddress}";

    private static string? ParseKernelAddress(string text, out InterfaceAddress value) =>
        InterfaceAddress.TryParse(text, out value)
            ? null
            : $"--kernel-address '{text}' is not an IPv4 address with a prefix length: write it as a.b.c.d/n, e.g. {DefaultKernelAddress}";

    internal static string? ParseNetns(string text, out string? value)
    {
        value = text;
        return text.Length == 0 || text.Contains('/', StringComparison.Ordinal) || text is "." or ".."
            ? $"--netns '{text}' is not a namespace name: give the name ip netns list shows"
            : null;
    }

    private static string? ParseLogLevel(string text, out LogLevel value)
    {
        value = text.ToUpperInvariant() switch
        {
            "TRACE" => Microsoft.Extensions.Logging.LogLevel.Trace,
            "DEBUG" => Microsoft.Extensions.Logging.LogLevel.Debug,
            "INFORMATION" or "INFO" => Microsoft.Extensions.Logging.LogLevel.Information,
            "WARNING" or "WARN" => Microsoft.Extensions.Logging.LogLevel.Warning,
            "ERROR" => Microsoft.Extensions.Logging.LogLevel.Error,
            "CRITICAL" => Microsoft.Extensions.Logging.LogLevel.Critical,
            "NONE" => Microsoft.Extensions.Logging.LogLevel.None,
            _ => (LogLevel)(-1),
        };
        return (int)value >= 0 ? null : $"--log-level '{text}' is not a level: use trace, debug, information, warning, error or none";
    }
}

/// <summary>
/// A NetStack on a TUN interface made for this command (in the current namespace, or in --netns), optionally
/// captured to a pcap file, logging to stderr. Disposing stops the stack, which closes the TUN device and so
/// removes the interface.
/// </summary>
internal sealed class LiveStack : IAsyncDisposable
{
    private LiveStack(StackSettings settings, NetStack stack, ILoggerFactory logs)
    {
        Settings = settings;
        Stack = stack;
        Logs = logs;
    }

    public StackSettings Settings { get; }
    public NetStack Stack { get; }
    public ILoggerFactory Logs { get; }

    /// <exception cref="TunException">The interface cannot be made (name in use, no CAP_NET_ADMIN, no such namespace).</exception>
    /// <exception cref="CliException">The pcap file cannot be written.</exception>
    public static LiveStack Start(StackSettings settings, TcpConfig tcp)
    {
        ILoggerFactory logs = CreateLogging(settings.LogLevel);
        TunDevice? tun = null;
        try
        {
            var options = new TunOptions(settings.Iface, settings.KernelAddress, settings.Mtu);
            tun = settings.Netns is null ? TunDevice.Open(options) : NetworkNamespace.Invoke(settings.Netns, () => TunDevice.Open(options));
            IPacketDevice device = tun;
            if (settings.Pcap is not null) device = Capture(tun, settings.Pcap);
            NetStack stack = NetStack.Start(device, new NetStackOptions
            {
                Address = settings.Address,
                Tcp = tcp with { Mss = (ushort)Math.Min(settings.Mtu - 40, ushort.MaxValue) },
            }, logs);
            return new LiveStack(settings, stack, logs);
        }
        catch
        {
            tun?.Dispose();
            logs.Dispose();
            throw;
        }
    }

    /// <summary>"10.77.0.2 (utcp0)" or "10.77.0.2 (utcp0 in namespace demo)".</summary>
    public string Where => Settings.Netns is null
        ? $"{Settings.Address} ({Settings.Iface})"
        : $"{Settings.Address} ({Settings.Iface} in namespace {Settings.Netns})";

    public async ValueTask DisposeAsync()
    {
        await Stack.DisposeAsync().ConfigureAwait(false);
        Logs.Dispose();
    }

    private static PcapPacketDevice Capture(TunDevice tun, string path)
    {
        PcapFile file;
        try
        {
            file = PcapFile.Create(path, DateTimeOffset.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(1, $"cannot write --pcap {path}: {e.Message}");
        }
        long start = Stopwatch.GetTimestamp();
        return new PcapPacketDevice(tun, file, () => Stopwatch.GetElapsedTime(start));
    }

    /// <summary>One line per message on stderr (stdout stays for what the command produces).</summary>
    public static ILoggerFactory CreateLogging(LogLevel level) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(level)
        .AddConsole(o => o.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Default;
        }));
}

/// <summary>Ctrl-C (SIGINT) and SIGTERM as a cancellation: the first asks for a clean stop, a second one ends the process at once.</summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;

    public StopSignal()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
    }

    public CancellationToken Token => _stop.Token;
    /// <summary>SIGINT or SIGTERM, once one arrived.</summary>
    public string? Received { get; private set; }

    private void OnSignal(PosixSignalContext context)
    {
        if (_stop.IsCancellationRequested) return; // the second signal: let the default action end the process
        context.Cancel = true;
        Received = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        _stop.Cancel();
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Sizes and rates as people read them.</summary>
internal static class Units
{
    public static string Bytes(double bytes) => bytes switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes:F0} B"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:F1} kB"),
        < 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F2} GB"),
    };

    public static string Rate(double bytes, TimeSpan time)
    {
        double bitsPerSecond = time > TimeSpan.Zero ? bytes * 8 / time.TotalSeconds : 0;
        return bitsPerSecond switch
        {
            < 1e6 => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e3:F1} kbit/s"),
            < 1e9 => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e6:F1} Mbit/s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e9:F2} Gbit/s"),
        };
    }

    public static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:F3} s");

}
