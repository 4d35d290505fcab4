namespace UserTcp.Engine;

/// <summary>
/// Initial sequence numbers as RFC 6528 §3 prescribes: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
/// M a 4 µs clock and F SipHash keyed with the stack's secret. A blind attacker cannot predict the ISN of a connection
/// it did not see, yet successive incarnations of one 4-tuple still start beyond each other (the clock moves on), which
/// RFC 9293 §3.4.1 wants. Also the TSval offset of a pair of addresses (RFC 7323 §5.4, as Linux's secure_tcp_ts_off):
/// keyed, so TSvals tell nothing about uptime, and fixed per pair, so a SYN cookie's TSval and the connection's later
/// ones come from one clock.
/// </summary>
internal sealed class IsnGenerator
{
    // 4 µs in TimeSpan ticks (100 ns each).
    private const long TicksPerIsnStep = 40;
    private readonly StackSecrets _secrets;

    public IsnGenerator(StackSecrets secrets) => _secrets = secrets;

    public uint InitialSequenceNumber(FourTuple id, TimeSpan now)
    {
        uint f = (uint)SipHash.Hash(_secrets.Isn, PackAddresses(id), PackPorts(id));
        uint m = unchecked((uint)(now.Ticks / TicksPerIsnStep));
        return unchecked(f + m);
    }

    public uint TimestampOffset(FourTuple id) => (uint)SipHash.Hash(_secrets.TimestampOffset, PackAddresses(id), 0);

    internal static ulong PackAddresses(FourTuple id) => (ulong)id.Local.Address.Value << 32 | id.Remote.Address.Value;

    internal static ulong PackPorts(FourTuple id) => (ulong)id.Local.Port << 16 | id.Remote.Port;
}
