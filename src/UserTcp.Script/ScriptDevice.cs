using UserTcp.Engine;
using UserTcp.Link;

namespace UserTcp.Script;

/// <summary>
/// The runner's device: the packets a script sends wait here for the stack to take, and every packet the stack
/// writes goes straight to the runner, which stamps it with the script's time. It never waits: the runner pumps the
/// stack after each packet it injects and each step of the clock. While <paramref name="refuses"/> says so (a script's
/// <c>tc qdisc ... pfifo limit 0</c>), its queue refuses every packet: none reaches the script.
/// </summary>
internal sealed class ScriptDevice(int mtu, IPacketTransmitter sent, Func<bool> refuses) : IPacketDevice
{
    // Packets injected by the script and not yet taken by the stack, oldest first.
    private readonly Queue<byte[]> _inbound = new();

    public int Mtu => mtu;

    public void Inject(byte[] packet) => _inbound.Enqueue(packet);

    public bool WaitReadable(TimeSpan timeout) => _inbound.Count > 0;

    public bool TryRead(Span<byte> packet, out int length)
    {
        if (!_inbound.TryDequeue(out byte[]? next))
        {
            length = 0;
            return false;
        }
        next.CopyTo(packet);
        length = next.Length;
        return true;
    }

    public bool RefusesTransmit(ReadOnlySpan<byte> packet) => refuses();

    public void Write(ReadOnlySpan<byte> packet)
    {
        if (!refuses()) sent.Transmit(packet);
    }

    public void Dispose() => _inbound.Clear();
}
