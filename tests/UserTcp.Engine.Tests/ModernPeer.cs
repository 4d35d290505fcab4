using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A peer that offers what Linux offers: MSS 1460, SACK-permitted, timestamps and window scale 7. Its TSval is
/// <see cref="PeerTsStart"/> plus the milliseconds since the start; ours is the clock in milliseconds (the harness pins
/// our offset to 0), so the test can say exactly what each TSval and TSecr must be.
/// </summary>
internal static class ModernPeer
{
    /// <summary>Our payload per segment with timestamps on: the MSS less the 12 bytes NOP NOP TS take.</summary>
    public const int Mss = 1448;
    public const uint PeerTsStart = 50_000;

    public static TcpOptions SynOptions(bool timestamps = true, bool sack = true) => new()
    {
        MaxSegmentSize = 1460,
        WindowScale = 7,
        SackPermitted = sack,
        Timestamp = timestamps ? new TcpTimestamp(PeerTsStart, 0) : null,
    };

    /// <summary>The peer's TSval at the harness's current time.</summary>
    public static uint PeerTs(Harness h) => PeerTsStart + (uint)h.Now.TotalMilliseconds;

    /// <summary>Our TSval at <paramref name="at"/>.</summary>
    public static uint OurTs(TimeSpan at) => (uint)at.TotalMilliseconds;

    /// <summary>Options for a segment from the peer: its timestamp (echoing <paramref name="ecr"/>) and SACK blocks.</summary>
    public static TcpOptions Options(Harness h, uint ecr, params (int From, int To)[] sackedOurOffsets)
    {
        var options = new TcpOptions { Timestamp = new TcpTimestamp(PeerTs(h), ecr) };
        foreach ((int from, int to) in sackedOurOffsets) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from)), new SeqNumber(Our(to))));
        return options;
    }

    /// <summary>
    /// ESTABLISHED by passive open with SACK and timestamps (unless turned off), the handshake taking
    /// <paramref name="rtt"/>: SYN and SYN-ACK at t = 0, the final ACK at t = rtt, echoing the SYN-ACK's TSval 0.
    /// </summary>
    public static (Harness H, TcpConnection C) Established(TimeSpan rtt, TcpConfig? config = null, bool timestamps = true, bool sack = true)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: SynOptions(timestamps, sack));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.AdvanceTo(rtt);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow, options: timestamps ? Options(h, OurTs(TimeSpan.Zero)) : default);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        h.ExpectNothing();
        return (h, c);
    }

    /// <summary>Sends <paramref name="segments"/> full segments of new data and checks each left; returns their payloads.</summary>
    public static void SendSegments(Harness h, TcpConnection c, int segments, int firstOffset = 0)
    {
        c.Send(Bytes(segments * Mss));
        h.Poll();
        for (int i = 0; i < segments; i++)
        {
            Sent s = h.Next();
            Assert.Equal(Our(firstOffset + i * Mss), s.Seq);
            Assert.Equal(Mss, s.Payload.Length);
        }
    }
}
