using System.Globalization;
using System.Text;
using System.Text.Json;

namespace UserTcp.Cli.Bench;

/// <summary>A bench figure: what it measures, its unit, and each run's value on both sides (higher is better).</summary>
internal sealed record BenchFigure(string Name, string Unit, string Client, IReadOnlyList<double> UserTcp, IReadOnlyList<double> Kernel)
{
    public Spread UserTcpSpread => Spread.Of(UserTcp);
    public Spread KernelSpread => Spread.Of(Kernel);
    /// <summary>UserTcp's median over the kernel's.</summary>
    public double Ratio => UserTcpSpread.Median / KernelSpread.Median;
}

/// <summary>The median of several runs with the smallest and largest.</summary>
internal readonly record struct Spread(double Median, double Min, double Max)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        double[] sorted = [.. values.Order()];
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }
}

/// <summary>Where the bench ran and how, for the report: a figure means little without the machine and the settings.</summary>
internal sealed record BenchContext(int Processors, string KernelRelease, string KernelCongestionControl, string UserTcpCongestionControl,
    string UserTcpRtoFormula, string DeviceMode, string DeviceOffloads, int Queues, int Mtu, int Runs, int Size, double Seconds, int Connections);

/// <summary>The bench's report: a table for people, or one JSON object (--json) for machines.</summary>
internal static class BenchReport
{
    public static void WriteText(TextWriter output, BenchContext context, IReadOnlyList<BenchFigure> figures, double? bytesPerHeldConnection)
    {
        output.WriteLine("");
        output.WriteLine($"  {"figure",-9} {"UserTcp median [min-max]",-34} {"kernel median [min-max]",-34} {"ratio",6}   client");
        foreach (BenchFigure f in figures)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {f.Name,-9} {Format(f.UserTcpSpread, f.Unit),-34} {Format(f.KernelSpread, f.Unit),-34} {f.Ratio,6:F3}   {f.Client}"));
        }
        if (bytesPerHeldConnection is double bytes)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  UserTcp's managed heap per held connection (its echo service included, after a full collection): {bytes:F0} bytes"));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {context.Processors} processors, Linux {context.KernelRelease}, kernel congestion control {context.KernelCongestionControl}, "
            + $"UserTcp {context.UserTcpCongestionControl}, RTO formula {context.UserTcpRtoFormula}; device {context.DeviceMode} ({context.DeviceOffloads}), {context.Queues} queue(s), MTU {context.Mtu}; "
            + $"{context.Runs} runs per figure and side, alternating; nothing pinned, the machine may be shared"));
        output.WriteLine("");
        foreach (BenchFigure f in figures)
        {
            // One line per figure, for scripts and the tests (the text before the table is for people).
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"usertcp bench: {f.Name}: UserTcp {Value(f.UserTcpSpread.Median, f.Unit)}, kernel {Value(f.KernelSpread.Median, f.Unit)}, ratio UserTcp/kernel {f.Ratio:F3}"));
        }
    }

    public static void WriteJson(TextWriter output, BenchContext context, IReadOnlyList<BenchFigure> figures, double? bytesPerHeldConnection)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("context");
            json.WriteNumber("processors", context.Processors);
            json.WriteString("kernelRelease", context.KernelRelease);
            json.WriteString("kernelCongestionControl", context.KernelCongestionControl);
            json.WriteString("userTcpCongestionControl", context.UserTcpCongestionControl);
            json.WriteString("userTcpRtoFormula", context.UserTcpRtoFormula);
            json.WriteString("deviceMode", context.DeviceMode);
            json.WriteString("deviceOffloads", context.DeviceOffloads);
            json.WriteNumber("queues", context.Queues);
            json.WriteNumber("mtu", context.Mtu);
            json.WriteNumber("runs", context.Runs);
            json.WriteNumber("bulkBytes", context.Size);
            json.WriteNumber("seconds", context.Seconds);
            json.WriteNumber("heldConnections", context.Connections);
            json.WriteEndObject();
            json.WriteStartArray("figures");
            foreach (BenchFigure f in figures)
            {
                json.WriteStartObject();
                json.WriteString("name", f.Name);
                json.WriteString("unit", f.Unit);
                json.WriteString("client", f.Client);
                WriteSide(json, "userTcp", f.UserTcp);
                WriteSide(json, "kernel", f.Kernel);
                json.WriteNumber("ratio", Math.Round(f.Ratio, 4));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (bytesPerHeldConnection is double bytes) json.WriteNumber("userTcpManagedBytesPerHeldConnection", Math.Round(bytes));
            json.WriteEndObject();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void WriteSide(Utf8JsonWriter json, string name, IReadOnlyList<double> runs)
    {
        Spread spread = Spread.Of(runs);
        json.WriteStartObject(name);
        json.WriteNumber("median", Math.Round(spread.Median, 3));
        json.WriteNumber("min", Math.Round(spread.Min, 3));
        json.WriteNumber("max", Math.Round(spread.Max, 3));
        json.WriteStartArray("runs");
        foreach (double run in runs) json.WriteNumberValue(Math.Round(run, 3));
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static string Format(Spread s, string unit) => unit == "Mbit/s"
        ? string.Create(CultureInfo.InvariantCulture, $"{s.Median:F1} [{s.Min:F0}-{s.Max:F0}] {unit}")
        : string.Create(CultureInfo.InvariantCulture, $"{s.Median:F0} [{s.Min:F0}-{s.Max:F0}] {unit}");

    private static string Value(double value, string unit) => unit == "Mbit/s"
        ? string.Create(CultureInfo.InvariantCulture, $"{value:F1} {unit}")
        : string.Create(CultureInfo.InvariantCulture, $"{value:F0} {unit}");
}
