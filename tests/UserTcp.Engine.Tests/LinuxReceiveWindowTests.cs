using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Linux's receive window (TcpConfig.ReceiveWindowModel.Linux, Receive/LinuxReceiveSpace.cs): memory (twice SO_RCVBUF)
/// less the truesize queued, scaled by the data's share of truesize (scaling_ratio), grown through rcv_ssthresh.
/// The numbers are Linux 6.18's, as persist/receiver-zero-window.pkt and sockopt/rcvbuf-set-pins-the-window.pkt show
/// on it; the default model (data bytes) keeps its own, ReceiveWindowTests.
/// </summary>
public class LinuxReceiveWindowTests
{
    private static TcpConfig Linux(int buffer) => new() { ReceiveBufferSize = buffer, ReceiveBufferAutoTuning = false, ReceiveWindowModel = ReceiveWindowModel.Linux };

    // A 1460-byte segment without options: a 1500-byte packet, 2304 bytes of truesize on tun.
    private static void Segment(Harness h, int offset, int length = 1460) =>
        h.Send(TcpFlags.Ack, Their(offset), Our(0), window: PeerWindow, payload: Bytes(length));

    [Theory]
    [InlineData(1500, 2304)] // 1460 bytes: kmalloc-2048 head (1564 + 320 aligned) and the sk_buff
    [InlineData(1192, 2304)] // 1152 bytes: the same head, so exactly half is data
    [InlineData(540, 1280)]  // 500 bytes: kmalloc-1024
    [InlineData(41, 768)]    // one byte: kmalloc-512
    [InlineData(4100, 8960)] // past a page: a 512-byte head and two pages
    public void Truesize_is_linuxs_for_a_packet_through_tun(int ipLength, int truesize) =>
        Assert.Equal(truesize, LinuxReceiveSpace.Truesize(ipLength));

    [Fact]
    public void A_small_buffer_offers_the_scaled_memory_closes_and_reopens_as_linux_does()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.FromMilliseconds(100), Linux(4096));
        Assert.Equal(0, c.WindowScale.Receive);
        Assert.Equal(2920u, c.RcvWnd);
        Assert.Equal(2920, c.Info().ReceiveSlowStartThreshold); // the SYN-ACK's window, within the clamp (4096 less one MSS, at least two)

        // The first segment's ratio is 1460 / 2304 (162/256): rcv_ssthresh grows to what the 5888 bytes free hold, 3726;
        // the 2920 offered is within one MSS of it and stays. Acknowledged at once (quick ACK).
        Segment(h, 0);
        Assert.Equal(2920, h.Expect(TcpFlags.Ack, Our(0), Their(1460)).Window);
        Assert.Equal(3726, c.Info().ReceiveSlowStartThreshold);

        // The second leaves 2268, below half the buffer's 5184: rounded down to 1460. Its ACK is delayed.
        Segment(h, 1460);
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        Assert.Equal(1460, h.Expect(TcpFlags.Ack, Our(0), Their(2920)).Window);

        // The third leaves 810, less than an MSS: zero.
        Segment(h, 2920);
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(0), Their(4380)).Window);
        Assert.Equal(0u, c.RcvWnd);

        // 200 bytes read free no skb (the first is not read to its end): nothing changes, nothing is sent.
        Assert.Equal(200, c.Receive(new byte[200], out _) == ReceiveStatus.Data ? 200 : -1);
        h.Poll();
        h.ExpectNothing();

        // The rest read: the memory is free again, the window reopens at once to rcv_ssthresh rounded to the MSS.
        Assert.Equal(4180, ReadAll(c).Data.Length);
        h.Poll();
        Assert.Equal(2920, h.Expect(TcpFlags.Ack, Our(0), Their(4380)).Window);
        h.ExpectNothing();
    }

    [Fact]
    public void The_default_model_keeps_the_data_byte_window()
    {
        // The same first segment without the Linux model: the free 2636 rounds down to 1460, and there is no rcv_ssthresh.
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.FromMilliseconds(100), Linux(4096) with { ReceiveWindowModel = ReceiveWindowModel.Bytes });
        Segment(h, 0);
        Assert.Equal(1460, h.Expect(TcpFlags.Ack, Our(0), Their(1460)).Window);
        Assert.Null(c.Info().ReceiveSlowStartThreshold);
        Assert.Equal(0, c.Info().ReceiveSpace);
    }

    [Fact]
    public void Rcv_ssthresh_grows_two_segments_at_a_time_until_the_free_memory_stops_it()
    {
        // 64 KiB (scale 1): the SYN-ACK offers 64240; the clamp is 65536 less one MSS, so rcv_ssthresh starts at 64076.
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.FromMilliseconds(100), Linux(64 * 1024));
        Assert.Equal(1, c.WindowScale.Receive);
        Assert.Equal(64076, c.Info().ReceiveSlowStartThreshold);

        // The ratio's clamp (131072 × 162/256 = 82944) lets rcv_ssthresh reach the 64240 offered, and each segment then
        // adds two of our segments while the memory free holds more: each acknowledged at once (tcp_grow_window's quick ACK).
        int[] thresholds = [67160, 70080, 73000, 75920];
        for (int i = 0; i < thresholds.Length; i++)
        {
            Segment(h, i * 1460);
            Sent ack = h.Expect(TcpFlags.Ack, Our(0), Their((i + 1) * 1460));
            Assert.Equal(thresholds[i], c.Info().ReceiveSlowStartThreshold);
            Assert.Equal(thresholds[i] / 2, ack.Window); // the free space is larger: rcv_ssthresh is offered, in 2-byte units
        }

        // The fifth finds less free (75653) than rcv_ssthresh: no growth, and the window is the free space rounded up.
        Segment(h, 4 * 1460);
        Assert.Equal(75920, c.Info().ReceiveSlowStartThreshold);
        if (h.TryNext() is not Sent fifth)
        {
            h.AdvanceToNextDeadline();
            fifth = h.Next();
        }
        Assert.Equal(75654 / 2, fifth.Window);
    }

    [Fact]
    public void Half_data_segments_keep_the_default_ratio()
    {
        // 1152 bytes in a 2304-byte skb are exactly half: the ratio stays 128, so the clamp stays 2920 (4096 less one MSS,
        // at least two) and rcv_ssthresh cannot grow past it; where 1460-byte segments take it to 3726.
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.FromMilliseconds(100), Linux(4096));
        Segment(h, 0, 1152);
        Assert.Equal(2920, h.Expect(TcpFlags.Ack, Our(0), Their(1152)).Window);
        Assert.Equal(2920, c.Info().ReceiveSlowStartThreshold);
    }

    [Fact]
    public void Out_of_order_segments_are_charged_and_move_into_order_with_the_gap()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.FromMilliseconds(100), Linux(4096));
        // Held beyond a gap: charged (2944 of window left at the default ratio, still over the 2920 offered), and it
        // teaches nothing: the segment size and ratio are learnt from in-order data only.
        Segment(h, 1460);
        Assert.Equal(2920, h.Expect(TcpFlags.Ack, Our(0), Their(0)).Window);
        Assert.Equal(2920, c.Info().ReceiveSlowStartThreshold);
        // The gap filled: the first in-order segment sets the ratio (162/256), and both skbs are charged: 2268 free,
        // rounded down to 1460 — what two in-order segments leave.
        Segment(h, 0);
        Assert.Equal(1460, h.Expect(TcpFlags.Ack, Our(0), Their(2920)).Window);
        // The read frees both: 2920 again, sent at once (it is twice what the peer had left).
        Assert.Equal(2920, ReadAll(c).Data.Length);
        h.Poll();
        Assert.Equal(2920, h.Expect(TcpFlags.Ack, Our(0), Their(2920)).Window);
    }

    [Fact]
    public void The_linux_rules_preset_and_getsockopts_doubled_size_agree()
    {
        Assert.Equal(ReceiveWindowModel.Linux, TcpConfig.LinuxRules.ReceiveWindowModel);
        Assert.Equal(ReceiveWindowModel.Bytes, new TcpConfig().ReceiveWindowModel);
        (_, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, Linux(4096));
        Assert.Equal(4096, c.ReceiveBufferSize); // SO_RCVBUF as set: getsockopt reports twice it, Linux's sk_rcvbuf
    }
}
