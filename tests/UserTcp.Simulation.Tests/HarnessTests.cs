using System.Buffers.Binary;
using UserTcp.Testing;

namespace UserTcp.Simulation.Tests;

/// <summary>The simulation harness itself: failure evidence and the cost of a segment.</summary>
public class HarnessTests
{
    [Fact]
    public void A_simulation_that_does_not_pass_leaves_a_readable_pcap_of_the_wire()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "failed-pcaps", "Pcap_probe.pcap");
        if (File.Exists(path)) File.Delete(path); // a fresh checkout has no failed-pcaps/ yet
        using (var sim = new Simulation(name: "Pcap_probe"))
        {
            sim.B.Engine.Listen(80);
            TcpConnection a = sim.A.Engine.Connect(new IpEndpoint(Simulation.AddressB, 80));
            sim.RunUntil(() => a.State == TcpState.Established, TimeSpan.FromSeconds(5));
            // No Pass(): as if an assertion had failed here.
        }
        byte[] pcap = File.ReadAllBytes(path);
        Assert.Equal(0xA1B2C3D4u, BinaryPrimitives.ReadUInt32LittleEndian(pcap));
        Assert.Equal(101u, BinaryPrimitives.ReadUInt32LittleEndian(pcap.AsSpan(20))); // LINKTYPE_RAW
        // Three packets at A's end: SYN out, SYN-ACK in (each with Linux's MSS, SACK-permitted, timestamps and window
        // scale: 20 bytes), ACK out (timestamps: 12 bytes); 16-byte record headers.
        Assert.Equal(24 + 3 * 16 + 60 + 60 + 52, pcap.Length);
        File.Delete(path);
    }

    [Fact]
    public void A_passing_simulation_leaves_no_pcap()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "failed-pcaps", "Pcap_pass_probe.pcap");
        using (var sim = new Simulation(name: "Pcap_pass_probe"))
        {
            sim.RunFor(TimeSpan.FromSeconds(1));
            sim.Pass();
        }
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Bulk_transfer_in_steady_state_allocates_nothing_per_segment()
    {
        using var sim = new Simulation(capture: false); // the in-memory pcap would grow with every packet
        TcpPassiveOpen listener = sim.B.Engine.Listen(80);
        TcpConnection a = sim.A.Engine.Connect(new IpEndpoint(Simulation.AddressB, 80));
        TcpConnection? b = null;
        sim.RunUntil(() => listener.TryAccept(out b), TimeSpan.FromSeconds(5));
        sim.A.Events.Capacity = 1 << 22; // the recording sink's list must not grow while we measure
        sim.B.Events.Capacity = 1 << 22;
        byte[] chunk = new byte[64 * 1024];
        byte[] sink = new byte[64 * 1024];
        long received = 0;
        void Applications()
        {
            while (a.Send(chunk) == chunk.Length) { }
            while (b!.Receive(sink, out int n) == ReceiveStatus.Data) received += n;
        }

        sim.RunUntil(() => received >= 16 << 20, TimeSpan.FromMinutes(5), Applications); // warm up: windows open, JIT done
        long target = 0;
        Func<bool> measured = () => received >= target; // delegates made before measuring: they are not per segment
        Action applications = Applications;
        long segments = 0;
        long allocated = Allocations.Fewest(() =>
        {
            target = received + (16 << 20);
            long segmentsBefore = sim.A.Engine.Counters.SegmentsSent + sim.B.Engine.Counters.SegmentsSent;
            sim.RunUntil(measured, TimeSpan.FromMinutes(10), applications);
            segments = sim.A.Engine.Counters.SegmentsSent + sim.B.Engine.Counters.SegmentsSent - segmentsBefore;
        });

        Assert.True(segments > 5000, $"only {segments} segments measured");
        Assert.Equal(0, allocated);
        sim.Pass();
    }
}
