using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Testing;

/// <summary>
/// For tests of inline completions: runs a test body as the stack's reader thread would, with no synchronization
/// context (a task completed under xunit's context does not run its continuation inline), and restores the context.
/// </summary>
public static class InlineThread
{
    public static async Task RunAsync(Func<Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            await body();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }
}

/// <summary>Counts the packets a device wrote (a tap of a <see cref="CapturingDevice"/>), and the TCP payload of the last one.</summary>
public sealed class OutboundPacketCounter : IPacketTap
{
    public long Packets { get; private set; }
    /// <summary>The last packet's TCP payload length; -1 when it was not TCP over IPv4.</summary>
    public int LastPayload { get; private set; }

    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault)
    {
        if (direction != PacketDirection.Outbound) return;
        Packets++;
        LastPayload = Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None && TcpSegment.TryParse(ip, out TcpSegment tcp) == WireError.None
            ? tcp.Payload.Length
            : -1;
    }
}
