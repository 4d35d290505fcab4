using System.Globalization;
using System.Text.RegularExpressions;
using SkiaSharp;
using UserTcp.Lab;

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

            // The kernel retransmitted its FIN three times (three final ACKs lost): the report says so, and its graph must show three markers.
            string html = File.ReadAllText(page);
            string graph = Directory.GetFiles(directory, "last-ack-lost.active.*.tsg-kernel.svg").Single();
            Match declared = Regex.Match(html, @"data-retransmissions=""(\d+)""><figure><img src=""[^""]*tsg-kernel\.svg""");
            Assert.True(declared.Success, "the page has no kernel time–sequence graph");
            Assert.Equal(3, int.Parse(declared.Groups[1].Value, CultureInfo.InvariantCulture));

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
            int inDom = Regex.Count(dom.OutputText, $"fill=\"{LabGraphs.RetransmissionColor}\"", RegexOptions.IgnoreCase);
            Assert.Equal(3, inDom);

            // And as Chromium draws it: three separate blobs of the marker colour.
            string graphShot = Path.Combine(directory, "graph.png");
            Chromium(profile, "--window-size=960,460", $"--screenshot={graphShot}", new Uri(graph).AbsoluteUri);
            using SKBitmap drawn = SKBitmap.Decode(graphShot);
            Assert.Equal(3, Blobs(drawn, SKColor.Parse(LabGraphs.RetransmissionColor)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

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
