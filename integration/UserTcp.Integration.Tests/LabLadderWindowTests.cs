using System.Globalization;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The lab's ladder names a segment's window ("win N", in bytes after window scaling) where it matters — a zero window,
/// the first open window after one, a window that moved on an ACK that would otherwise read as a duplicate — and nowhere
/// else: not on SYNs, not on data, not on an unchanged window, not where the window moves as the ACK advances. Records
/// made here (no root).
/// </summary>
public sealed class LabLadderWindowTests
{
    // The arrow of every packet line spans these columns (time, two spaces, the kernel's column, the arrow of 44).
    private const int ArrowStart = 9 + 2 + 24, ArrowEnd = ArrowStart + 44;

    /// <summary>
    /// UserTcp sends and the kernel receives; both SYNs carry window scale (the kernel's 10, UserTcp's 7, as in real runs).
    /// The kernel's window moves as its ACK advances, then on a duplicate ACK, shuts, answers a probe still shut, reopens
    /// in an update the link drops, and reopens again in its answer to the next probe; then the transfer goes on.
    /// Application marks between the groups keep the ladder from folding them.
    /// </summary>
    private static RecordBuilder Transfer(byte? kernelScale = 10, byte? userTcpScale = 7)
    {
        var b = new RecordBuilder(40600, 5026);
        b.Handshake(Ms(0), kernelConnects: false, kernelScale, userTcpScale);
        b.Mark(Ms(5), LabSide.UserTcp, "write 30000 bytes");
        b.FromUserTcp(Ms(10), 1, TcpFlags.Ack, 1, length: 1448, window: 512);
        b.FromKernel(Ms(11), 1, TcpFlags.Ack, 1449, window: 63);
        b.FromUserTcp(Ms(12), 1449, TcpFlags.Ack | TcpFlags.Psh, 1, length: 1448, window: 512);
        b.FromKernel(Ms(13), 1, TcpFlags.Ack, 2897, window: 60);
        b.FromKernel(Ms(14), 1, TcpFlags.Ack, 2897, window: 60);
        b.Mark(Ms(14.5), LabSide.Kernel, "(mark)");
        b.FromKernel(Ms(15), 1, TcpFlags.Ack, 2897, window: 62);
        b.FromKernel(Ms(20), 1, TcpFlags.Ack, 2897, window: 0);
        b.FromUserTcp(Ms(220), 2896, TcpFlags.Ack, 1, window: 512);
        b.FromKernel(Ms(221), 1, TcpFlags.Ack, 2897, window: 0);
        b.Mark(Ms(499), LabSide.Kernel, "read() at last");
        b.FromKernel(Ms(500), 1, TcpFlags.Ack, 2897, dropped: true, window: 3);
        b.FromUserTcp(Ms(620), 2896, TcpFlags.Ack, 1, window: 512);
        b.FromKernel(Ms(621), 1, TcpFlags.Ack, 2897, window: 3);
        b.FromUserTcp(Ms(622), 2897, TcpFlags.Ack, 1, length: 1448, window: 512);
        b.FromKernel(Ms(623), 1, TcpFlags.Ack, 4345, window: 3);
        b.FromKernel(Ms(624), 1, TcpFlags.Ack, 4345, window: 3);
        return b;
    }

    private static IReadOnlyList<string> Ladder(RecordBuilder b) => LabLadder.Draw(b.Build("zero-window", LabRole.UserTcpActive), b.Connection);

    // The one line of the segment sent at `ms`.
    private static string At(IReadOnlyList<string> ladder, double ms) =>
        Assert.Single(ladder, l => l.StartsWith((ms / 1000).ToString("0.000", CultureInfo.InvariantCulture).PadLeft(9) + "  ", StringComparison.Ordinal) && l.Contains('['));

    [Fact]
    public void A_zero_window_is_named_each_time_it_is_advertised_and_scaled_zero_is_zero()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        Assert.Contains("── [.] seq 1 ack 2897 win 0 ──", At(ladder, 20), StringComparison.Ordinal);
        // The answer to the probe still says the window is shut.
        Assert.Contains("── [.] seq 1 ack 2897 win 0 ──", At(ladder, 221), StringComparison.Ordinal);
    }

    [Fact]
    public void The_reopening_is_named_on_the_lost_update_and_again_on_the_first_that_gets_through_in_bytes_after_scaling()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        // The field is 3; the kernel's SYN announced a shift of 10 and UserTcp's SYN carried the option too.
        string lost = At(ladder, 500);
        Assert.Contains("── [.] seq 1 ack 2897 win 3072 ──", lost, StringComparison.Ordinal);
        Assert.Contains("✗ dropped", lost, StringComparison.Ordinal);
        // UserTcp never saw the lost one: for it the answer to the next probe is the reopening.
        Assert.Contains("── [.] seq 1 ack 2897 win 3072 ──", At(ladder, 621), StringComparison.Ordinal);
    }

    [Fact]
    public void A_window_that_moved_on_an_ack_that_would_read_as_a_duplicate_is_named()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        Assert.Contains("── [.] seq 1 ack 2897 win 63488 ──", At(ladder, 15), StringComparison.Ordinal);
    }

    [Fact]
    public void No_window_is_named_on_syns_data_an_unchanged_window_or_one_that_moves_as_the_ack_advances()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        Assert.Equal(2, ladder.Count(l => l.Contains("[S", StringComparison.Ordinal) && !l.Contains("win", StringComparison.Ordinal)));
        // The first window from UserTcp (the handshake's ACK): nothing to compare it with.
        Assert.DoesNotContain("win", Assert.Single(ladder, l => l.Contains("[.] seq 1 ack 1 ", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.DoesNotContain("win", At(ladder, 10), StringComparison.Ordinal); // data
        Assert.DoesNotContain("win", At(ladder, 11), StringComparison.Ordinal); // the kernel's first window
        Assert.DoesNotContain("win", At(ladder, 13), StringComparison.Ordinal); // moved as the ACK advanced
        Assert.DoesNotContain("win", At(ladder, 14), StringComparison.Ordinal); // a duplicate ACK, window unchanged
        Assert.DoesNotContain("win", At(ladder, 220), StringComparison.Ordinal); // a probe
        Assert.DoesNotContain("win", At(ladder, 622), StringComparison.Ordinal); // data after the reopening
        Assert.DoesNotContain("win", At(ladder, 623), StringComparison.Ordinal); // the window as it was
        Assert.DoesNotContain("win", At(ladder, 624), StringComparison.Ordinal);
        Assert.Equal(5, ladder.Count(l => l.Contains(" win ", StringComparison.Ordinal)));
    }

    [Fact]
    public void Without_the_option_on_both_syns_the_field_is_not_scaled()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer(kernelScale: 10, userTcpScale: null));

        Assert.Contains("── [.] seq 1 ack 2897 win 62 ──", At(ladder, 15), StringComparison.Ordinal);
        Assert.Contains("── [.] seq 1 ack 2897 win 3 ──", At(ladder, 621), StringComparison.Ordinal);
    }

    [Fact]
    public void A_named_window_keeps_the_rows_width_and_every_arrow_in_its_columns()
    {
        IReadOnlyList<string> ladder = Ladder(Transfer());

        foreach (string line in ladder.Where(l => l.Contains('[') && !l.Contains('✗')))
        {
            bool fromKernel = line[ArrowStart] == '─';
            Assert.True(fromKernel ? line[ArrowEnd - 1] == '▶' : line[ArrowStart] == '◀' && line[(ArrowEnd - 2)..ArrowEnd] == "──", line);
            Assert.True(line.Length == ArrowEnd || line[ArrowEnd..(ArrowEnd + 2)] == "  ", line);
        }
        // A dropped segment's ✗ stands where it did without a window named.
        Assert.Equal(ArrowEnd - 5, At(ladder, 500).IndexOf('✗', StringComparison.Ordinal));
    }

    [Fact]
    public void A_long_label_on_a_dropped_segment_widens_its_row_rather_than_failing()
    {
        var b = new RecordBuilder(40600, 5026);
        b.Handshake(Ms(0), kernelConnects: false, kernelScale: 14, userTcpScale: 14);
        b.FromKernel(Ms(10), 1_000_000_000, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin, 1_000_000_000, length: 1448, window: 0);
        b.FromKernel(Ms(11), 1_000_001_449, TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin, 1_000_000_000, length: 1448, dropped: true, window: 65535);

        IReadOnlyList<string> ladder = Ladder(b);

        Assert.Contains("[FP.] seq 1000001449:1000002897 ack 1000000000 win 1073725440 ──✗", At(ladder, 11), StringComparison.Ordinal);
    }

    [Fact]
    public void A_fold_line_counts_the_zero_windows_it_hides_and_says_nothing_of_windows_when_there_are_none()
    {
        var b = new RecordBuilder(5026, 40700);
        b.Handshake(Ms(0), kernelConnects: true);
        b.Mark(Ms(1), LabSide.Kernel, "send 30000 bytes");
        for (int i = 0; i < 6; i++)
        {
            uint seq = 1 + (uint)(1448 * i);
            b.FromKernel(Ms(10 + i), seq, TcpFlags.Ack, 1, length: 1448);
            b.FromUserTcp(Ms(10.5 + i), 1, TcpFlags.Ack, seq + 1448, window: (ushort)(i % 2 == 0 ? 0 : 2896));
        }
        b.Mark(Ms(20), LabSide.Kernel, "(mark)");
        for (int i = 0; i < 4; i++)
        {
            b.FromKernel(Ms(30 + i), 8689 + (uint)(1448 * i), TcpFlags.Ack, 1, length: 1448);
        }
        b.FromUserTcp(Ms(35), 1, TcpFlags.Ack, 14481, window: 2896);

        IReadOnlyList<string> ladder = LabLadder.Draw(b.Build("zero-window", LabRole.UserTcpPassive), b.Connection);

        // Twelve foldable rows: the first two and the last two shown, eight in the line, of which UserTcp's at 12.5 and 14.5 ms said win 0.
        Assert.Contains("           ⋮ 8 more segments: 4 from the kernel (5792 bytes of data), 4 from UserTcp (0 bytes of data; 2 of them win 0)", ladder);
        Assert.Contains(ladder, l => l.Contains('◀') && l.Contains("── [.] seq 1 ack 1449 win 0 ──", StringComparison.Ordinal));
        // Five rows fold not at all; a run without a zero window folds as it always did.
        b.FromKernel(Ms(36), 14481, TcpFlags.Ack, 1, length: 1448);
        b.FromKernel(Ms(37), 15929, TcpFlags.Ack, 1, length: 1448);
        ladder = LabLadder.Draw(b.Build("zero-window", LabRole.UserTcpPassive), b.Connection);
        Assert.Contains("           ⋮ 3 more segments: 2 from the kernel (2896 bytes of data), 1 from UserTcp (0 bytes of data)", ladder);
    }

    [Fact]
    public void The_report_pages_ladder_names_the_window_and_its_timeline_shows_field_and_shift()
    {
        LabRecord record = Transfer().Build("zero-window", LabRole.UserTcpActive);
        LabScenario scenario = LabCatalog.Find("zero-window")!;
        var result = new LabResult(scenario, LabRole.UserTcpActive, record, scenario.Judge(record), Ms(700), "zero-window.active.pcapng");
        string page = ReportPage.Of(result);
        Assert.Contains(" [.] seq 1 ack 2897 win 3072 ──", page, StringComparison.Ordinal);
        Assert.Contains("[.] seq 1 ack 2897 len 0 win 3072 (3 &lt;&lt; 10)", page, StringComparison.Ordinal);
        // A SYN's window is never scaled, and a zero is a zero.
        Assert.Contains("[S.] seq 0 ack 1 len 0 win 64240<", page, StringComparison.Ordinal);
        Assert.Contains("[.] seq 1 ack 2897 len 0 win 0<", page, StringComparison.Ordinal);
        // The terminal shows the same ladder.
        Assert.Contains(LabText.Describe(result), l => l.Contains(" [.] seq 1 ack 2897 win 3072 ──", StringComparison.Ordinal));
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
