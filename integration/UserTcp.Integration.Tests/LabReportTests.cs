using System.Globalization;
using System.Text.RegularExpressions;
using SkiaSharp;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The lab's HTML report as a person sees it: `usertcp lab run last-ack-lost --role active --report DIR`, then headless
/// Chromium (Debian's chromium) opens the scenario's page and its time–sequence graph. The page's screenshot must not be
/// blank, and the graph of the kernel's segments must carry one retransmission marker per FIN the kernel retransmitted
/// — counted twice: in the SVG as Chromium parsed it, and as magenta blobs in Chromium's rendering of it.
/// </summary>
public sealed partial class LabReportTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [RequiresNetAdminFact("chromium")]
    public void The_report_page_and_graph_render_in_chromium_with_one_marker_per_retransmission()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"usertcp-it-report-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        string profile = Path.Combine(directory, "chromium-profile");
        try
        {
            using PeerProgram lab = PeerProgram.Run(Timeout, Usertcp, "lab", "run", "last-ack-lost", "--role", "active", "--report", directory);
            Assert.True(lab.ExitCode == 0, lab.Transcript);
            Assert.Contains(lab.OutputLines, l => l.Contains("last-ack-lost (active): PASS", StringComparison.Ordinal));
            string page = Path.Combine(directory, "last-ack-lost.html");
            Assert.True(File.Exists(Path.Combine(directory, "index.html")) && File.Exists(page), lab.Transcript);

            // The kernel retransmitted its FIN at least three times (three final ACKs lost; the PASS above counted four FINs), and
            // the page declares as many retransmissions as the capture holds.
            string html = File.ReadAllText(page);
            string graph = Directory.GetFiles(directory, "last-ack-lost.active.*.tsg-kernel.svg").Single();
            int recorded = KernelRetransmissions(Path.Combine(directory, "last-ack-lost.active.pcapng"));
            Assert.True(recorded >= 3, $"the capture holds {recorded} retransmissions from the kernel");
            Match declared = Regex.Match(html, @"data-retransmissions=""(\d+)""><figure><img src=""[^""]*tsg-kernel\.svg""");
            Assert.True(declared.Success, "the page has no kernel time–sequence graph");
            Assert.Equal(recorded, int.Parse(declared.Groups[1].Value, CultureInfo.InvariantCulture));

            // The page renders, and is not blank.
            string shot = Path.Combine(directory, "page.png");
            Chromium(profile, "--window-size=1280,2000", $"--screenshot={shot}", new Uri(page).AbsoluteUri);
            using (SKBitmap bitmap = SKBitmap.Decode(shot))
            {
                Assert.NotNull(bitmap);
                int colours = Distinct(bitmap, out double inked);
                Assert.True(colours > 50 && inked > 0.02, $"the page looks blank: {colours} colours, {inked:P1} of it not white");
            }

            // The graph as Chromium's DOM has it: one element filled with the marker colour per retransmission.
            PeerProgram dom = Chromium(profile, "--dump-dom", new Uri(graph).AbsoluteUri);
            List<(double X, double Y)> markers = [.. MarkerCentres().Matches(dom.OutputText).Select(m => (Pixels(m.Groups[1]), Pixels(m.Groups[2])))];
            Assert.Equal(recorded, markers.Count);

            // And as Chromium draws it: a blob of the marker colour per marker, save that markers drawn on top of each other (two
            // segments the stack read in one go, after a stall, carry one time) make one. Discs 9 px across surely join closer
            // than 7 px and surely stay apart beyond 10 px; in between, anti-aliasing decides.
            string graphShot = Path.Combine(directory, "graph.png");
            Chromium(profile, "--window-size=960,460", $"--screenshot={graphShot}", new Uri(graph).AbsoluteUri);
            using SKBitmap drawn = SKBitmap.Decode(graphShot);
            int blobs = Blobs(drawn, SKColor.Parse(LabGraphs.RetransmissionColor));
            int fewest = Groups(markers, 10), most = Groups(markers, 7);
            Assert.True(blobs >= fewest && blobs <= most,
                $"{blobs} blobs of the marker colour drawn for {recorded} markers at {string.Join(", ", markers)} (expected {fewest} to {most})");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // Segments from the kernel (SYN and FIN count one) whose first sequence number the capture already holds (LabRecord.Sendings' rule).
    private static int KernelRetransmissions(string pcap)
    {
        var seen = new HashSet<uint>();
        return Pcap.ReadTcp(pcap).Count(s => s.Source == Addresses.KernelAddress
            && (s.PayloadLength > 0 || (s.Flags & (TcpFlags.Syn | TcpFlags.Fin)) != 0)
            && !seen.Add(s.Sequence));
    }

    // How many groups the markers make when those closer than the distance (in pixels) are joined, transitively.
    private static int Groups(List<(double X, double Y)> markers, double distance)
    {
        int[] group = [.. Enumerable.Range(0, markers.Count)];
        int Root(int i) => group[i] == i ? i : group[i] = Root(group[i]);
        for (int i = 0; i < markers.Count; i++)
        {
            for (int j = i + 1; j < markers.Count; j++)
            {
                if (double.Hypot(markers[i].X - markers[j].X, markers[i].Y - markers[j].Y) < distance) group[Root(i)] = Root(j);
            }
        }
        return Enumerable.Range(0, markers.Count).Count(i => Root(i) == i);
    }

    private static double Pixels(Group g) => double.Parse(g.Value, CultureInfo.InvariantCulture);

    // A retransmission marker as ScottPlot writes it: an ellipse in the marker colour, its centre in pixels.
    [GeneratedRegex(@"<ellipse fill=""" + LabGraphs.RetransmissionColor + @""" cx=""([-\d.]+)"" cy=""([-\d.]+)""", RegexOptions.IgnoreCase)]
    private static partial Regex MarkerCentres();

    private static PeerProgram Chromium(string profile, params string[] arguments)
    {
        PeerProgram chromium = PeerProgram.Run(Timeout, [ExternalProgram.Find("chromium")!, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", .. arguments],
            System.Diagnostics.Process.Start);
        Assert.True(chromium.ExitCode == 0, chromium.Transcript);
        return chromium;
    }

    // How many distinct colours the image has (capped), and the share of pixels that are not near-white.
    private static int Distinct(SKBitmap bitmap, out double inked)
    {
        var colours = new HashSet<uint>();
        long dark = 0;
        for (int y = 0; y < bitmap.Height; y += 2)
        {
            for (int x = 0; x < bitmap.Width; x += 2)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (colours.Count < 10_000) colours.Add((uint)c);
                if (c.Red < 235 || c.Green < 235 || c.Blue < 235) dark++;
            }
        }
        inked = dark / (bitmap.Width / 2.0 * (bitmap.Height / 2.0));
        return colours.Count;
    }

    // Connected regions (4-neighbour) of pixels close to the colour.
    private static int Blobs(SKBitmap bitmap, SKColor colour)
    {
        bool Near(SKColor c) => Math.Abs(c.Red - colour.Red) < 25 && Math.Abs(c.Green - colour.Green) < 25 && Math.Abs(c.Blue - colour.Blue) < 25;
        var seen = new bool[bitmap.Width, bitmap.Height];
        int blobs = 0;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                if (seen[x, y] || !Near(bitmap.GetPixel(x, y))) continue;
                blobs++;
                var stack = new Stack<(int, int)>([(x, y)]);
                seen[x, y] = true;
                while (stack.TryPop(out (int X, int Y) p))
                {
                    foreach ((int nx, int ny) in ((int, int)[])[(p.X + 1, p.Y), (p.X - 1, p.Y), (p.X, p.Y + 1), (p.X, p.Y - 1)])
                    {
                        if (nx < 0 || ny < 0 || nx >= bitmap.Width || ny >= bitmap.Height || seen[nx, ny] || !Near(bitmap.GetPixel(nx, ny))) continue;
                        seen[nx, ny] = true;
                        stack.Push((nx, ny));
                    }
                }
            }
        }
        return blobs;
    }
}
