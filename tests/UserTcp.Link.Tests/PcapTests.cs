using System.Diagnostics;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class PcapTests
{
    private static readonly byte[] ExpectedFileHeader =
    [
        0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4, little-endian: microsecond timestamps
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0x00, 0x00, 0x00, 0x00, // thiszone 0
        0x00, 0x00, 0x00, 0x00, // sigfigs 0
        0xff, 0xff, 0x00, 0x00, // snaplen 65535
        0x65, 0x00, 0x00, 0x00, // LINKTYPE_RAW (101)
    ];

    [Fact]
    public void A_capture_is_the_global_header_then_one_record_per_packet_byte_for_byte()
    {
        byte[] syn = Tcp(TcpFlags.Syn);
        var stream = new MemoryStream();
        using (var pcap = new PcapFile(stream, leaveOpen: true))
        {
            pcap.Write(syn, TimeSpan.FromSeconds(1.5) + TimeSpan.FromTicks(9)); // 900 ns: below a microsecond, cut off
        }

        byte[] expectedRecordHeader =
        [
            0x01, 0xb9, 0x55, 0x69, // 2026-01-01T00:00:01Z = 1767225601 = 0x6955b901 seconds since 1970
            0x20, 0xa1, 0x07, 0x00, // 500000 microseconds
            0x28, 0x00, 0x00, 0x00, // 40 bytes included
            0x28, 0x00, 0x00, 0x00, // 40 bytes on the wire
        ];
        Assert.Equal([.. ExpectedFileHeader, .. expectedRecordHeader, .. syn], stream.ToArray());
    }

    [Fact]
    public void The_epoch_decides_the_wall_clock_time_written()
    {
        var stream = new MemoryStream();
        using (var pcap = new PcapFile(stream, DateTimeOffset.UnixEpoch, leaveOpen: true))
        {
            pcap.Write([0x45], TimeSpan.FromMicroseconds(3_000_007));
        }

        Assert.Equal(new byte[] { 3, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x45 }, stream.ToArray()[24..]);
    }

    [Fact]
    public void A_packet_longer_than_the_snapshot_length_is_cut_and_its_real_length_kept()
    {
        var stream = new MemoryStream();
        using (var pcap = new PcapFile(stream, leaveOpen: true))
        {
            pcap.Write(new byte[70_000], TimeSpan.Zero);
        }

        byte[] bytes = stream.ToArray();
        Assert.Equal(24 + 16 + 65535, bytes.Length);
        Assert.Equal(65535u, BitConverter.ToUInt32(bytes, 24 + 8));
        Assert.Equal(70_000u, BitConverter.ToUInt32(bytes, 24 + 12));
    }

    [Fact]
    public void An_instant_before_1970_is_refused()
    {
        using var pcap = new PcapFile(new MemoryStream(), DateTimeOffset.UnixEpoch);

        Assert.Throws<ArgumentOutOfRangeException>(() => pcap.Write([0x45], TimeSpan.FromSeconds(-1)));
        Assert.Equal(0, pcap.PacketsWritten);
    }

    [Fact]
    public void Disposing_flushes_and_closes_the_stream_unless_told_to_leave_it_open()
    {
        var closed = new MemoryStream();
        new PcapFile(closed).Dispose();
        var open = new MemoryStream();
        new PcapFile(open, leaveOpen: true).Dispose();

        Assert.False(closed.CanWrite);
        Assert.True(open.CanWrite);
        Assert.Equal(24, open.Length);
    }

    [Fact]
    public void A_pcap_writer_records_what_its_side_sends_and_receives_at_those_instants()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(10));
        var stream = new MemoryStream();
        byte[] syn = Tcp(TcpFlags.Syn), synAck = Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 1001, sourcePort: 80, destinationPort: 40000, fromServer: true);
        using (var pcap = new PcapFile(stream, DateTimeOffset.UnixEpoch, leaveOpen: true))
        {
            var captured = new PcapWriter(a, pcap);
            captured.Transmit(syn, Ms(1));
            Assert.Single(Drain(b, Ms(11)));
            b.Transmit(synAck, Ms(11));
            Assert.Equal(Ms(21), captured.NextArrival);
            Assert.Single(Drain(captured, Ms(21)));
            Assert.Equal(2, pcap.PacketsWritten);
        }

        byte[] bytes = stream.ToArray();
        int second = 24 + 16 + syn.Length;
        Assert.Equal((1000u, (uint)syn.Length), (BitConverter.ToUInt32(bytes, 24 + 4), BitConverter.ToUInt32(bytes, 24 + 8)));
        Assert.Equal(syn, bytes[40..second]);
        Assert.Equal((21000u, (uint)synAck.Length), (BitConverter.ToUInt32(bytes, second + 4), BitConverter.ToUInt32(bytes, second + 8)));
        Assert.Equal(synAck, bytes[(second + 16)..]);
    }

    [Fact]
    public void Tcpdump_reads_the_capture_and_prints_each_packet()
    {
        string path = Path.Combine(Path.GetTempPath(), $"usertcp-link-{Environment.ProcessId}-{Guid.NewGuid():N}.pcap");
        // Port 33333 has no tcpdump dissector, so lines end at the TCP summary (port 80 would add ": HTTP").
        byte[] syn = Tcp(TcpFlags.Syn, seq: 1000, destinationPort: 33333);
        byte[] synAck = Tcp(TcpFlags.Syn | TcpFlags.Ack, seq: 5000, ack: 1001, sourcePort: 33333, destinationPort: 40000, fromServer: true);
        byte[] data = Tcp(TcpFlags.Psh | TcpFlags.Ack, seq: 1001, ack: 5001, payloadLength: 5, destinationPort: 33333);
        try
        {
            using (var pcap = PcapFile.Create(path))
            {
                pcap.Write(syn, TimeSpan.Zero);
                pcap.Write(synAck, Ms(10.5));
                pcap.Write(data, TimeSpan.FromSeconds(2) + Ms(0.25));
            }

            // The format check holds everywhere; tcpdump confirms real tools agree when it is installed.
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(ExpectedFileHeader, bytes[..24]);
            Assert.Equal(24 + 3 * 16 + syn.Length + synAck.Length + data.Length, bytes.Length);

            string? tcpdump = FindOnPath("tcpdump");
            if (tcpdump is null)
            {
                Assert.False(Environment.GetEnvironmentVariable("CI") == "true", "tcpdump is not installed: apt-get install tcpdump");
                return;
            }
            (int exit, string output, string errors) = Run(tcpdump, "-nn", "-tt", "-S", "-r", path);

            Assert.True(exit == 0, $"tcpdump exited {exit}: {errors}");
            Assert.Contains("link-type RAW", errors, StringComparison.Ordinal);
            Assert.Equal(
                """
                1767225600.000000 IP 10.0.0.1.40000 > 10.0.0.2.33333: Flags [S], seq 1000, win 64240, length 0
                1767225600.010500 IP 10.0.0.2.33333 > 10.0.0.1.40000: Flags [S.], seq 5000, ack 1001, win 64240, length 0
                1767225602.000250 IP 10.0.0.1.40000 > 10.0.0.2.33333: Flags [P.], seq 1001:1006, ack 5001, win 64240, length 5
                """, output.TrimEnd('\n'));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string? FindOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, command))
            .FirstOrDefault(File.Exists);

    private static (int Exit, string Output, string Errors) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish in 30 s");
        }
        return (process.ExitCode, output.GetAwaiter().GetResult(), errors.GetAwaiter().GetResult());
    }
}
