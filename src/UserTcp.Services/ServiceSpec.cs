using System.Globalization;

namespace UserTcp.Services;

/// <summary>A service chosen by name and the port to serve it on, as in `--services echo,http:8080`.</summary>
public readonly record struct ServiceSpec(string Name, ushort Port)
{
    /// <summary>The service names in their usual order, with their RFC ports.</summary>
    public static IReadOnlyList<ServiceSpec> All { get; } =
    [
        new("echo", EchoService.Port),
        new("discard", DiscardService.Port),
        new("daytime", DaytimeService.Port),
        new("chargen", ChargenService.Port),
        new("http", HttpService.Port),
    ];

    /// <summary>"echo 7".</summary>
    public override string ToString() => $"{Name} {Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Parses a comma-separated list of names, each optionally with ":PORT" (echo,http:8080), or "all". Returns null on
    /// success, otherwise one sentence saying what is wrong and how to write it.
    /// </summary>
    public static string? TryParseList(string text, out IReadOnlyList<ServiceSpec> services)
    {
        services = [];
        ArgumentNullException.ThrowIfNull(text);
        string names = string.Join(", ", All.Select(s => s.Name));
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            services = All;
            return null;
        }
        var chosen = new List<ServiceSpec>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (item.Length == 0) return $"--services '{text}' has an empty name: list names separated by commas, e.g. echo,http";
            string[] parts = item.Split(':', 2);
            ServiceSpec known = All.FirstOrDefault(s => s.Name.Equals(parts[0], StringComparison.OrdinalIgnoreCase));
            if (known.Name is null) return $"unknown service '{parts[0]}': choose from {names} (or all)";
            ushort port = known.Port;
            if (parts.Length == 2
                && (!ushort.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port == 0))
            {
                return $"'{item}' has a bad port: write NAME:PORT with a port from 1 to 65535, e.g. http:8080";
            }
            if (chosen.Any(s => s.Port == port)) return $"--services '{text}' puts two services on port {port.ToString(CultureInfo.InvariantCulture)}";
            chosen.Add(new ServiceSpec(known.Name, port));
        }
        services = chosen;
        return null;
    }
}
