using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TcpExtTCPOrigDataSent as Linux counts it (tcp_event_new_data_sent): each segment of new data, and a FIN sent on its
/// own, once the device took it; never a retransmission, a pure ACK or a segment the local queue refused.
/// </summary>
public class OrigDataSentTests
{
    [Fact]
    public void New_segments_and_a_lone_fin_count_and_retransmissions_and_acks_do_not()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(100), new TcpConfig { TailLossProbe = false }, timestamps: false, sack: false);
        c.Send(Bytes(3000));
        h.Poll();
        Assert.Equal([1460, 1460, 80], new[] { h.Next(), h.Next(), h.Next() }.Select(s => s.Payload.Length));
        h.ExpectNothing();
        Assert.Equal(3, h.Engine.Counters[MibCounter.TcpExtTCPOrigDataSent]);

        h.AdvanceToNextDeadline(); // the RTO resends the first segment
        Assert.Equal(Our(0), h.Next().Seq);
        Assert.Equal(3, h.Engine.Counters[MibCounter.TcpExtTCPOrigDataSent]);

        h.Advance(Ms(10));
        h.Send(TcpFlags.Ack, Their(0), Our(3000), window: PeerWindow);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(3000), window: PeerWindow, payload: Bytes(10));
        h.Advance(Ms(500)); // the ACK of those 10 bytes, quick or delayed: no data
        Assert.Equal(TcpFlags.Ack, h.Next().Flags);
        h.ExpectNothing();
        Assert.Equal(3, h.Engine.Counters[MibCounter.TcpExtTCPOrigDataSent]);

        Assert.Equal(ReceiveStatus.Data, c.Receive(new byte[10], out _)); // read, so the close sends a FIN, not a RST
        c.Close();
        h.Poll();
        Sent fin = h.Next();
        Assert.True(fin.Flags.HasFlag(TcpFlags.Fin) && fin.Payload.Length == 0, $"{fin}");
        Assert.Equal(4, h.Engine.Counters[MibCounter.TcpExtTCPOrigDataSent]);
    }
}
