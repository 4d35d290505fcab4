namespace UserTcp.Engine;

/// <summary>
/// Ephemeral ports by RFC 6056 §3.3.4, Algorithm 4 ("Double-Hash Port Selection"), as Linux's __inet_hash_connect does:
/// F(local address, remote address, remote port) picks where a destination's walk through the range starts, so an
/// off-path attacker cannot guess the port of a connection to a destination it has not observed; G() picks one of
/// <see cref="TableSize"/> counters that advance that walk, so one destination's ports do not tell another's, while
/// connections to the same destination still move through the range in order (few collisions with their own
/// TIME-WAITs). As Linux since 5.19, each port handed out also advances its counter by a random 0–7 extra steps, so
/// even the next port to the same destination cannot be predicted exactly (Klein and Pinkas, "Device tracking via
/// Linux's new TCP source port selection algorithm", 2022).
/// </summary>
internal sealed class EphemeralPorts
{
    /// <summary>RFC 6056 §3.3.4 leaves TABLE_LENGTH to the implementation; 1024 counters cost 4 KiB.</summary>
    public const int TableSize = 1024;
    private const int MaxExtraSteps = 8;

    private readonly StackSecrets _secrets;
    private readonly uint[] _table = new uint[TableSize];

    public EphemeralPorts(StackSecrets secrets) => _secrets = secrets;

    /// <summary>
    /// The first port in [<paramref name="first"/>, <paramref name="last"/>] towards <paramref name="remote"/> that
    /// <paramref name="isFree"/> accepts; null when every port of the range is taken.
    /// </summary>
    public ushort? Choose(IpEndpoint local, IpEndpoint remote, ushort first, ushort last, Func<ushort, bool> isFree)
    {
        uint count = (uint)(last - first + 1);
        ulong destination = (ulong)local.Address.Value << 32 | remote.Address.Value;
        uint offset = (uint)SipHash.Hash(_secrets.PortOffset, destination, remote.Port);
        int index = (int)(SipHash.Hash(_secrets.PortTable, destination, remote.Port) % TableSize);
        for (uint tried = 0; tried < count; tried++)
        {
            ushort port = (ushort)(first + unchecked(offset + _table[index]) % count);
            _table[index]++;
            if (!isFree(port)) continue;
            _table[index] += (uint)_secrets.Random.Next(MaxExtraSteps);
            return port;
        }
        return null;
    }
}
