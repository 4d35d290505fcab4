using System.Globalization;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The lab's graphs as a reader sees them, on records made here (no root): a legend names what the graph draws and
/// nothing else, a lone ACK still draws its line, and the counts of connections per state are told apart and counted
/// in whole connections.
/// </summary>
public sealed partial class LabGraphsTests
{
    /// <summary>
    /// fin-no-reply's active run at 7e8d58d: UserTcp sent no data, and the kernel's only ACK that arrived was its
    /// handshake's (every later one, each with a D-SACK block, was lost). The graph of what UserTcp sent listed "data
    /// sent" and "SACK blocks", neither of which it drew, and "the kernel's ACK", whose single point drew no line.
    /// </summary>
    [Fact]
    public void A_time_sequence_graphs_legend_names_only_what_the_graph_draws()
    {
        var b = new RecordBuilder(5001, 50620);
        b.Handshake(Ms(26), kernelConnects: true);
        b.FromUserTcp(Ms(45), 1, TcpFlags.Fin | TcpFlags.Ack, 1);
        b.FromKernel(Ms(45.2), 1, TcpFlags.Fin | TcpFlags.Ack, 2, dropped: true);
        foreach (double at in new[] { 247.0, 449, 847 })
        {
            b.FromUserTcp(Ms(at), 1, TcpFlags.Fin | TcpFlags.Ack, 1);
            b.FromKernel(Ms(at + 0.5), 2, TcpFlags.Ack, 2, dropped: true, sack: (1, 2));
        }
        LabRecord r = b.Build("fin-no-reply", LabRole.UserTcpActive);

        (string svg, int markers) = Draw(r, LabSide.UserTcp);

        Assert.Equal(3, markers);
        Assert.Contains("SYN / FIN", svg, StringComparison.Ordinal);
        // Only the kernel's ACKs were lost: the legend says so, and names no lost segment of UserTcp's.
        Assert.Contains("ACK dropped by the link (x on the ACK line)", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("dropped by the link (x)", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("data sent", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("SACK blocks", svg, StringComparison.Ordinal);
        // The handshake's ACK (ack 1) stands until the last packet: a line across the graph, not a point.
        Assert.Contains("the kernel&apos;s ACK", svg, StringComparison.Ordinal);
        Assert.True(AckLineSpan(svg) > 500, $"the kernel's ACK line spans {AckLineSpan(svg):0} px");
        // Sequence numbers are whole: no tick at 0.5 or 1.5 on a graph of a SYN and a FIN.
        Assert.All(LeftTickLabels(svg), label => Assert.DoesNotContain(".", label, StringComparison.Ordinal));
    }

    /// <summary>
    /// ack-loss's graph of what UserTcp sent at 5d1b2c7: no segment of UserTcp's was lost, the kernel's first ACK was, and
    /// its ✗ (on the ACK line, at the data's end) read as a lost segment beside a legend that said only "dropped by the link".
    /// </summary>
    [Fact]
    public void A_lost_ack_is_named_as_an_ack_in_the_legend_and_a_lost_segment_as_a_segment()
    {
        var b = new RecordBuilder(40000, 5040);
        b.Handshake(Ms(0), kernelConnects: false);
        b.FromUserTcp(Ms(10), 1, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448);
        b.FromKernel(Ms(10.2), 1, TcpFlags.Ack, 1449, dropped: true);
        b.FromUserTcp(Ms(20), 1449, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448);
        b.FromKernel(Ms(20.2), 1, TcpFlags.Ack, 2897);
        string acksOnly = Draw(b.Build("ack-loss", LabRole.UserTcpActive), LabSide.UserTcp).Svg;

        Assert.Contains("ACK dropped by the link (x on the ACK line)", acksOnly, StringComparison.Ordinal);
        Assert.DoesNotContain("dropped by the link (x)", acksOnly, StringComparison.Ordinal);

        b.FromUserTcp(Ms(30), 2897, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448, dropped: true);
        string both = Draw(b.Build("ack-loss", LabRole.UserTcpActive), LabSide.UserTcp).Svg;

        Assert.Contains("ACK dropped by the link (x on the ACK line)", both, StringComparison.Ordinal);
        Assert.Contains("dropped by the link (x)", both, StringComparison.Ordinal);
    }

    /// <summary>A graph whose window edge lies wholly above what it shows says so, rather than list a line that is not there.</summary>
    [Fact]
    public void A_window_edge_off_the_top_is_named_so_in_the_legend()
    {
        var b = new RecordBuilder(5001, 50620);
        b.Handshake(Ms(26), kernelConnects: true);
        b.FromUserTcp(Ms(45), 1, TcpFlags.Ack | TcpFlags.Psh, 1, length: 100);
        b.FromKernel(Ms(46), 1, TcpFlags.Ack, 101);
        LabRecord r = b.Build("fin-no-reply", LabRole.UserTcpActive);

        Assert.Contains("ACK + window (off the top)", Draw(r, LabSide.UserTcp).Svg, StringComparison.Ordinal);
    }

    /// <summary>
    /// close-wait-leak's passive counts at 7e8d58d drew UserTcp's CLOSE-WAIT in #FCBBA1 and the kernel's FIN-WAIT-2 in
    /// #FDAE6B, the timeline's pale fills, two shades a reader could not tell apart; and its axis counted half connections.
    /// </summary>
    [Fact]
    public void The_counts_per_state_draw_each_series_in_a_colour_far_from_the_others_and_count_whole_connections()
    {
        List<RecordBuilder> connections = [.. Enumerable.Range(0, 3).Select(i => LabVerdictTextTests.CloseWaitClient(i, guarded: false))];
        LabRecord r = RecordBuilder.Build("close-wait-leak", LabRole.UserTcpPassive, connections);
        string directory = Directory.CreateTempSubdirectory("usertcp-graphs-").FullName;
        try
        {
            LabGraphs.Counts(r, Path.Combine(directory, "counts"));
            string svg = File.ReadAllText(Path.Combine(directory, "counts.svg"));

            Assert.Contains("UserTcp CLOSE-WAIT", svg, StringComparison.Ordinal);
            Assert.Contains("kernel FIN-WAIT-2", svg, StringComparison.Ordinal);
            // The series' colours (solid lines are strokes, dashed ones filled dashes): every colour but the frame's, the grid's and the background's.
            string[] colours = [.. Strokes().Matches(svg).Select(m => m.Groups[1].Value.ToUpperInvariant()).Distinct().Where(c => Distance(c, "#000000") > 60 && Distance(c, "#FFFFFF") > 60)];
            Assert.True(colours.Length >= 3, $"series colours: {string.Join(", ", colours)}"); // CLOSE-WAIT, FIN-WAIT-2, ESTABLISHED
            double closest = colours.SelectMany((a, i) => colours.Skip(i + 1).Select(c => Distance(a, c))).Min();
            Assert.True(closest > 100, $"two series are drawn in colours {closest:0} apart: {string.Join(", ", colours)}");
            Assert.All(LeftTickLabels(svg), label => Assert.DoesNotContain(".", label, StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// The congestion-window graph draws the sender's cwnd and ssthresh (∞ left out, so a finite ssthresh is the only
    /// dashed line) and leaves out the receiver, whose window never moved; a run that read no cwnd gets no graph.
    /// </summary>
    [Fact]
    public void The_congestion_graph_draws_the_senders_window_and_threshold_and_only_those()
    {
        var b = new RecordBuilder(5018, 40000);
        b.Handshake(Ms(20), kernelConnects: true);
        foreach ((double at, long cwnd, long ssthresh) in new[] { (30.0, 10L, (long)int.MaxValue), (40, 20, int.MaxValue), (50, 14, 14), (60, 15, 14) })
        {
            b.Reading(Ms(at), LabSide.UserTcp, "tcpi_snd_cwnd", cwnd);
            b.Reading(Ms(at), LabSide.UserTcp, "tcpi_snd_ssthresh", ssthresh);
        }
        b.Reading(Ms(30), LabSide.Kernel, "tcpi_snd_cwnd", 10);
        b.Reading(Ms(30), LabSide.Kernel, "tcpi_snd_ssthresh", int.MaxValue);
        LabRecord r = b.Build("fast-retransmit", LabRole.UserTcpActive);
        string directory = Directory.CreateTempSubdirectory("usertcp-graphs-").FullName;
        try
        {
            Assert.True(LabGraphs.Congestion(r, r.Connections[0], Path.Combine(directory, "cwnd")));
            string svg = File.ReadAllText(Path.Combine(directory, "cwnd.svg"));
            Assert.Contains("UserTcp cwnd", svg, StringComparison.Ordinal);
            Assert.Contains("UserTcp ssthresh", svg, StringComparison.Ordinal);
            Assert.DoesNotContain("kernel cwnd", svg, StringComparison.Ordinal);
            Assert.Contains("congestion window, 40000 ↔ 5018", svg, StringComparison.Ordinal);
            Assert.Equal(["0", "5", "10", "15", "20"], LeftTickLabels(svg).Where(t => t.Length <= 2).Take(5));

            var none = new RecordBuilder(5018, 40000);
            none.Handshake(Ms(20), kernelConnects: true);
            Assert.False(LabGraphs.Congestion(none.Build("fast-retransmit", LabRole.UserTcpActive), none.Connection, Path.Combine(directory, "none")));
            Assert.False(File.Exists(Path.Combine(directory, "none.svg")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // The left axis's tick labels: the numbers that share the leftmost x of the SVG's texts ("0", "0.5", "1", …).
    internal static IReadOnlyList<string> LeftTickLabels(string svg)
    {
        var numbers = Texts().Matches(svg)
            .Select(m => (X: double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Text: m.Groups[2].Value.Trim()))
            .Where(t => double.TryParse(t.Text, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _)).ToList();
        double left = numbers.GroupBy(t => t.X).Where(g => g.Count() >= 2).Min(g => g.Key);
        return [.. numbers.Where(t => t.X == left).Select(t => t.Text)];
    }

    internal static (string Svg, int Markers) Draw(LabRecord r, LabSide sender)
    {
        string directory = Directory.CreateTempSubdirectory("usertcp-graphs-").FullName;
        try
        {
            int markers = LabGraphs.TimeSequence(r, r.Connections[0], sender, Path.Combine(directory, "tsg"));
            return (File.ReadAllText(Path.Combine(directory, "tsg.svg")), markers);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // How wide, in pixels, the ACK line (ScottPlot's path in its colour) runs.
    private static double AckLineSpan(string svg)
    {
        double[] xs = [.. AckPath().Matches(svg).SelectMany(m => Coordinates().Matches(m.Groups[1].Value).Select(c => double.Parse(c.Groups[1].Value, CultureInfo.InvariantCulture)))];
        return xs.Length == 0 ? 0 : xs.Max() - xs.Min();
    }

    private static double Distance(string a, string b)
    {
        static (int R, int G, int B) Rgb(string hex) => (Convert.ToInt32(hex[1..3], 16), Convert.ToInt32(hex[3..5], 16), Convert.ToInt32(hex[5..7], 16));
        (int r1, int g1, int b1) = Rgb(a);
        (int r2, int g2, int b2) = Rgb(b);
        return Math.Sqrt(((r1 - r2) * (r1 - r2)) + ((g1 - g2) * (g1 - g2)) + ((b1 - b2) * (b1 - b2)));
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [GeneratedRegex(@"(?:stroke|fill)=""(#[0-9A-Fa-f]{6})""")]
    private static partial Regex Strokes();

    [GeneratedRegex(@"<text transform=""translate\(([-\d.]+) [-\d.]+\)""[^>]*>([^<]*)</text>")]
    private static partial Regex Texts();

    [GeneratedRegex(@"<path fill=""none"" stroke=""#2CA02C""[^>]* d=""([^""]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex AckPath();

    [GeneratedRegex(@"[ML]([-\d.]+) [-\d.]+")]
    private static partial Regex Coordinates();
}
