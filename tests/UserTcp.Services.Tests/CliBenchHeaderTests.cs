using UserTcp.Cli.Bench;
using UserTcp.Live;

namespace UserTcp.Services.Tests;

/// <summary>`usertcp bench`'s first line names the size, duration or count of only the figures that run.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliBenchHeaderTests
{
    private static string Header(params string[] figures) =>
        BenchRun.Header(new BenchSettings(1048576, 3, 1500, TunDeviceMode.Offload, figures, 3, 10000, Json: false));

    [Fact]
    public void Every_figure_names_bulk_size_rr_and_cc_seconds_and_held_connections()
    {
        Assert.Equal("usertcp bench: download, upload, rr, cc, held; 3 run(s) per figure and side; bulk 1048576 bytes (1 MiB) per transfer "
            + "(client wall time, process start to exit; 1 Mbit/s = 10^6 bit/s); rr and cc 3 s per run; held 10000 connections; mtu 1500",
            Header("download", "upload", "rr", "cc", "held"));
    }

    [Fact]
    public void Bulk_figures_alone_say_nothing_of_rr_cc_or_held()
    {
        string header = Header("download", "upload");
        Assert.Contains("bulk 1048576 bytes", header, StringComparison.Ordinal);
        Assert.DoesNotContain("s per run", header, StringComparison.Ordinal);
        Assert.DoesNotContain("rr", header, StringComparison.Ordinal);
        Assert.DoesNotContain("held", header, StringComparison.Ordinal);
    }

    [Fact]
    public void One_timed_figure_names_only_itself()
    {
        Assert.Equal("usertcp bench: cc; 3 run(s) per figure and side; cc 3 s per run; mtu 1500", Header("cc"));
        Assert.Equal("usertcp bench: held; 3 run(s) per figure and side; held 10000 connections; mtu 1500", Header("held"));
    }
}
