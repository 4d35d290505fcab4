using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>Small helpers for the packet-trace tests: sequence numbers by offset, instants, payloads, extra fixtures.</summary>
internal static class TestData
{
    /// <summary>The window field every established-state segment from the peer carries: 502 &lt;&lt; 7 = 64256 bytes.</summary>
    public const ushort PeerWindow = 502;

    /// <summary>Our sequence number <paramref name="offset"/> bytes into the data (ISS+1+offset; wraps 2^32 after 15 bytes).</summary>
    public static uint Our(int offset) => unchecked(Isn + 1u + (uint)offset);

    /// <summary>The peer's sequence number <paramref name="offset"/> bytes into its data (IRS+1+offset).</summary>
    public static uint Their(int offset) => unchecked(PeerIsn + 1u + (uint)offset);

    public static TimeSpan Ms(long milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    public static TimeSpan S(long seconds) => TimeSpan.FromSeconds(seconds);

    /// <summary>A recognizable payload; <c>Bytes(n)[a..b]</c> is what a segment carrying bytes a to b holds.</summary>
    public static byte[] Bytes(int length) => Enumerable.Range(0, length).Select(i => (byte)(i % 251)).ToArray();

    /// <summary>Reads everything buffered; the status of the last call tells whether the stream ended.</summary>
    public static (byte[] Data, ReceiveStatus Last) ReadAll(TcpConnection c)
    {
        var all = new List<byte>();
        byte[] buffer = new byte[4096];
        while (true)
        {
            ReceiveStatus status = c.Receive(buffer, out int read);
            if (status != ReceiveStatus.Data) return (all.ToArray(), status);
            all.AddRange(buffer.AsSpan(0, read).ToArray());
        }
    }

    /// <summary>
    /// ESTABLISHED by passive open whose handshake took <paramref name="rtt"/>: SYN and SYN-ACK at t = 0, the final ACK
    /// at t = rtt, so the SYN-ACK gives one RTT sample of exactly <paramref name="rtt"/>.
    /// </summary>
    public static (Harness H, TcpConnection C) EstablishedAfter(TimeSpan rtt, TcpConfig? config = null, TcpOptions? peerSynOptions = null)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: peerSynOptions ?? PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.AdvanceTo(rtt);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        h.ExpectNothing();
        return (h, c);
    }

    /// <summary>(time, attempt) of every retransmission event, for schedule assertions.</summary>
    public static (TimeSpan Time, int Attempt)[] Retransmissions(this Harness h) =>
        h.Log.Of(TcpEventKind.Retransmission).Select(e => (e.Time, e.Attempt)).ToArray();
}
