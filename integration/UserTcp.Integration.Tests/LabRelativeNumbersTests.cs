using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Sequence and acknowledgment numbers in the lab's lines count from the ISN of the side whose sequence space they are in,
/// as the ladder beside them does (<see cref="SeqNumbering"/>), on records made here (no root; ISNs 1000 and 5000).
/// </summary>
public sealed class LabRelativeNumbersTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Seq_ack_and_sack_count_from_the_isn_of_the_side_they_number()
    {
        var b = new RecordBuilder(40000, 5001);
        b.Handshake(Ms(0), kernelConnects: false);
        b.FromUserTcp(Ms(1), 1, TcpFlags.Ack, 1, length: 100);
        b.FromKernel(Ms(2), 1, TcpFlags.Ack, 1, sack: (101, 201));
        LabRecord r = b.Build("fast-retransmit", LabRole.UserTcpActive);
        SeqNumbering n = r.Numbering(r.Connections[0]);
        WirePacket ack = r.Packets[^1];

        Assert.Equal((1u, 1u, "101-201"), (n.Seq(ack), n.Ack(ack), n.Sack(ack)));
        Assert.Equal(1u, n.Seq(r.Packets[^2]));
        Assert.Equal(101u, n.Of(LabSide.UserTcp, new SeqNumber(RecordBuilder.UserTcpIsn + 101)));
        // Without a SYN of a side, its numbers stay as on the wire.
        Assert.Equal(7u, SeqNumbering.Relative(new SeqNumber(7), null));
    }

    /// <summary>half-open's keepalive line printed the probe's seq as on the wire ("seq 1000") beside the ladder's "seq 0".</summary>
    [Fact]
    public void Half_opens_keepalive_probe_line_gives_its_seq_relative_to_the_survivors_isn()
    {
        var data = new RecordBuilder(5007, 41000);
        data.Handshake(Ms(0), kernelConnects: true);
        var idle = new RecordBuilder(5008, 41001);
        idle.Handshake(Ms(1), kernelConnects: true);
        idle.Mark(Ms(10), LabSide.UserTcp, "forgot the connection");
        idle.FromKernel(Ms(1200), 0, TcpFlags.Ack, 1); // SEG.SEQ = SND.NXT − 1: the ISN
        idle.FromUserTcp(Ms(1200.2), 1, TcpFlags.Rst, null);

        LabVerdict v = LabCatalog.Find("half-open")!.Judge(RecordBuilder.Build("half-open", LabRole.UserTcpActive, [data, idle]));

        Expectation probe = Assert.Single(v.Expectations, e => e.What.Contains("keepalive probe goes out", StringComparison.Ordinal));
        Assert.StartsWith("probe [.] seq 0 ", probe.Observed, StringComparison.Ordinal);
    }
}
