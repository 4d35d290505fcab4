using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Simulation.Tests;

/// <summary>Sequence space past 2^32: fast retransmit must not switch itself off (issue 8, item 5).</summary>
public class LongTransferTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void More_than_four_gibibytes_with_a_loss_near_the_end_recover_by_fast_retransmit_not_by_timeout()
    {
        // NewReno without SACK, where "recover" (RFC 6582) decides whether three duplicate ACKs start a recovery. Left
        // at the ISS, it made SND.UNA − 1 ≥ recover false from 2 GiB to 4 GiB into the stream (the comparison is modulo
        // 2^32), so a loss there waited for the retransmission timer. A 64 KiB MSS keeps the run to ~70 000 segments.
        const long total = 4 * GiB + 64 * (1 << 20);
        const long dropAt = 4 * GiB - 100 * (1 << 20); // 3.9 GiB: near the end, where the old comparison fails
        var config = new TcpConfig
        {
            CongestionControl = CongestionControlAlgorithm.NewReno,
            Sack = false,
            Mss = ushort.MaxValue - 40,
            SendBufferSize = 4 << 20,
            ReceiveBufferSize = 4 << 20,
            InitialSequenceNumber = _ => 1000,
        };
        long sentBytes = 0;
        SeqNumber? highest = null;
        bool dropped = false;
        FaultRule lossNearTheEnd = FaultRule.DropMatching(segment =>
        {
            if (segment.PayloadLength == 0) return false;
            SeqNumber end = segment.SequenceNumber + segment.PayloadLength;
            if (highest is SeqNumber h && end <= h) return false; // a retransmission
            sentBytes += highest is SeqNumber previous ? end - previous : segment.PayloadLength;
            highest = end;
            if (dropped || sentBytes < dropAt) return false;
            dropped = true;
            return true;
        }, "drop the first segment past 3.9 GiB");

        using var sim = new Simulation(config, config with { RandomSeed = 2 }, rulesA: [lossNearTheEnd],
            oneWayDelay: TimeSpan.FromMilliseconds(1), capture: false, mtu: ushort.MaxValue);
        sim.A.RecordEvents = false;
        var retransmissions = new List<TcpEvent>();
        sim.A.OnEventSeen = e =>
        {
            if (e.Kind == TcpEventKind.Retransmission) retransmissions.Add(e);
        };
        var transfer = new OneWayTransfer(sim, total);
        TransferResult result = transfer.RunToCompletion(TimeSpan.FromHours(1));

        Assert.True(dropped);
        Assert.Equal(total, result.Bytes);
        Assert.Equal(0, result.Timeouts);
        TcpEvent only = Assert.Single(retransmissions);
        Assert.Equal(TcpCause.FastRetransmit, only.Cause);
        sim.Pass();
    }
}
