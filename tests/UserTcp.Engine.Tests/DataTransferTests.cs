using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>Data both ways: the initial window, slow start, FIN riding on data, reassembly of out-of-order segments.</summary>
public class DataTransferTests
{
    private const int Mss = 1460;

    [Fact]
    public void Initial_window_is_ten_segments_before_the_first_ack_then_slow_start_opens_it()
    {
        (Harness h, TcpConnection c) = Established();
        Assert.Equal(10 * Mss, c.CongestionWindow); // RFC 6928 IW10
        byte[] data = Bytes(30_000);
        c.Send(data);
        h.Poll();
        for (int i = 0; i < 10; i++)
        {
            // No RTT yet at this instant, so the pacing rate is unbounded and the TSO packets are half of cwnd: five
            // segments, the last of each with PSH (as Linux's GSO packets are on the wire).
            Sent segment = h.Expect(i % 5 == 4 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, Our(i * Mss), Their(0), Mss);
            Assert.Equal(data[(i * Mss)..((i + 1) * Mss)], segment.Payload);
        }
        h.ExpectNothing(); // 14600 bytes in flight, cwnd full; the window (64256) is not the limit
        Assert.Equal(Our(10 * Mss), c.SndNxt.Value);

        // Each ACK in slow start grows cwnd by one SMSS: it frees the segment it acknowledges and one more (10 ms
        // later, so the two leave as one TSO packet rather than wait for more room, tcp_tso_should_defer).
        h.AdvanceTo(Ms(10));
        h.Send(TcpFlags.Ack, Their(0), Our(Mss), window: PeerWindow);
        Assert.Equal(11 * Mss, c.CongestionWindow);
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing();
    }

    [Fact]
    public void Nagle_holds_a_partial_segment_only_while_a_small_one_is_unacknowledged_as_minshall_and_linux()
    {
        // Linux's tcp_nagle_check with tcp_minshall_check: the tail of a write goes at once, full segments in flight or
        // not, unless a segment shorter than the MSS is still unacknowledged (snd_sml after snd_una). Classic Nagle
        // (RFC 896) held the tail until everything was acknowledged.
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(2 * Mss + 80));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2 * Mss), Their(0), 80); // no small segment in flight: it goes
        h.ExpectNothing();

        // A small segment (the 80 bytes) is in flight now, so the next partial one waits for its ACK.
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow); // full segments acknowledged, the small one not
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss + 80), window: PeerWindow);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2 * Mss + 80), Their(0), 100);
        h.ExpectNothing();

        // Full segments go whatever is in flight; only the partial tail behind them waits while 100 bytes are out.
        c.Send(Bytes(Mss + 10));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(2 * Mss + 180), Their(0), Mss);
        h.ExpectNothing();
    }

    [Fact]
    public void Fin_rides_on_the_last_data_segment_when_close_follows_send()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(100));
        c.Close();
        h.Poll();
        Sent last = h.Expect(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, Our(0), Their(0), 100);
        Assert.Equal(Bytes(100), last.Payload);
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait1, c.State);

        h.Send(TcpFlags.Ack, Their(0), Our(101), window: PeerWindow); // data and FIN: 101 sequence numbers
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(0, c.BytesUnacknowledged);
    }

    [Fact]
    public void Data_and_fin_are_retransmitted_together_and_only_the_fin_once_the_data_is_acked()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(100));
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, Our(0), Their(0), 100);
        Assert.Equal(Ms(200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, Our(0), Their(0), 100);
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow); // data acknowledged, FIN not
        Assert.Equal(TcpState.FinWait1, c.State);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Our(100), Their(0)); // only the FIN is left to send again
        h.ExpectNothing();
    }

    [Fact]
    public void Peers_fin_on_its_last_data_segment_is_accepted_data_readable_then_end_of_stream()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] hello = "hello"u8.ToArray();
        h.Send(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: hello);
        Assert.Equal(TcpState.CloseWait, c.State);
        Assert.True(c.FinReceived);
        h.ExpectNothing(); // the ACK waits, as Linux's does, in case our FIN can ride on it
        Assert.Equal(Ms(40), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(6)); // data and FIN acknowledged together
        h.ExpectNothing();

        byte[] buffer = new byte[16];
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer, out int read));
        Assert.Equal(hello, buffer[..read]);
        Assert.Equal(ReceiveStatus.EndOfStream, c.Receive(buffer, out read));
        Assert.Equal(0, read);
        h.Poll();
        h.ExpectNothing(); // no window update after the FIN
    }

    [Fact]
    public void Out_of_order_segments_are_reassembled_in_order()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] data = Bytes(300);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(200), Our(0), window: PeerWindow, payload: data[200..]);
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // third segment first: a duplicate ACK
        Assert.Equal(0, c.BytesToRead);

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: data[..100]);
        h.Expect(TcpFlags.Ack, Our(0), Their(100)); // fills the front of the gap: acknowledged at once
        Assert.Equal(100, c.BytesToRead);

        h.Send(TcpFlags.Ack, Their(100), Our(0), window: PeerWindow, payload: data[100..200]);
        h.Expect(TcpFlags.Ack, Our(0), Their(300)); // closes the gap: the held segment is delivered too
        h.ExpectNothing();
        Assert.Equal(data, ReadAll(c).Data);
    }

    [Fact]
    public void Out_of_order_fin_is_held_until_the_data_before_it_arrives()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] data = Bytes(200);
        h.Send(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, Their(100), Our(0), window: PeerWindow, payload: data[100..]);
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        Assert.Equal(TcpState.Established, c.State);

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, payload: data[..100]);
        h.Expect(TcpFlags.Ack, Our(0), Their(201));
        Assert.Equal(TcpState.CloseWait, c.State);
        (byte[] read, ReceiveStatus last) = ReadAll(c);
        Assert.Equal(data, read);
        Assert.Equal(ReceiveStatus.EndOfStream, last);
    }

    [Fact]
    public void Duplicate_data_is_acked_at_once_and_not_delivered_twice()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] data = Bytes(100);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: data);
        h.Expect(TcpFlags.Ack, Our(0), Their(100)); // the first data: acknowledged at once (quick-ACK, as Linux)

        h.AdvanceTo(Ms(300));
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), window: PeerWindow, payload: data); // our ACK was lost
        h.Expect(TcpFlags.Ack, Our(0), Their(100));
        Assert.Equal(data, ReadAll(c).Data);
    }
}
