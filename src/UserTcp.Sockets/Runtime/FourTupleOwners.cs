using System.Buffers.Binary;
using System.Collections.Concurrent;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// Which shard owns each 4-tuple in use, for a stack of several shards (docs/design.md "Several cores"). A shard claims
/// a 4-tuple when its engine opens a connection (actively, or from a listener) and releases it when the engine forgets
/// the connection or its TIME-WAIT record. Reads (one per packet read) take no lock; a claim or a release, once per
/// connection, locks one stripe of the map, never while anything else is held but the claiming shard's own engine lock.
/// </summary>
internal sealed class FourTupleOwners
{
    private readonly ConcurrentDictionary<FourTuple, int> _owners;

    public FourTupleOwners(int shards) => _owners = new ConcurrentDictionary<FourTuple, int>(Math.Max(shards, 16) * 4, 1024);

    /// <summary>The claims of shard <paramref name="shard"/>, for its engine.</summary>
    public IFourTupleClaims For(int shard) => new ShardClaims(this, shard);

    /// <summary>How many 4-tuples are owned now.</summary>
    public int Count => _owners.Count;

    /// <summary>
    /// The shard that owns the connection <paramref name="packet"/> belongs to: a TCP segment's 4-tuple, or for an ICMP
    /// error the 4-tuple of the segment of ours it quotes. Null when no shard owns it (a new SYN, an echo request, a
    /// packet that does not parse: whoever read it handles it).
    /// </summary>
    public int? OwnerOf(ReadOnlySpan<byte> packet) => TryReadFourTuple(packet, out FourTuple id) ? OwnerOf(id) : null;

    /// <summary>The shard that owns <paramref name="id"/> (a connection's or a TIME-WAIT record's), or null.</summary>
    public int? OwnerOf(FourTuple id) => _owners.TryGetValue(id, out int owner) ? owner : null;

    /// <summary>
    /// Our 4-tuple of <paramref name="packet"/>, read from fixed offsets without validating more than the lengths: the
    /// engine validates whatever it is given. An ICMP error (RFC 792: unreachable, time exceeded, parameter problem)
    /// quotes our IPv4 header and at least 8 bytes of our segment, so its 4-tuple is ours with source and destination as sent.
    /// </summary>
    internal static bool TryReadFourTuple(ReadOnlySpan<byte> packet, out FourTuple id)
    {
        id = default;
        if (packet.Length < 20 || packet[0] >> 4 != 4) return false;
        int ihl = (packet[0] & 0x0F) * 4;
        if (ihl < 20 || packet.Length < ihl + 8) return false;
        var source = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[12..]));
        var destination = new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(packet[16..]));
        ReadOnlySpan<byte> transport = packet[ihl..];
        switch (packet[9])
        {
            case Ipv4Packet.ProtocolTcp:
                id = new FourTuple(new IpEndpoint(destination, BinaryPrimitives.ReadUInt16BigEndian(transport[2..])),
                    new IpEndpoint(source, BinaryPrimitives.ReadUInt16BigEndian(transport)));
                return true;
            case Ipv4Packet.ProtocolIcmp when transport[0] is 3 or 11 or 12:
                ReadOnlySpan<byte> quoted = transport[8..];
                if (quoted.Length < 20 || quoted[0] >> 4 != 4 || quoted[9] != Ipv4Packet.ProtocolTcp) return false;
                int quotedIhl = (quoted[0] & 0x0F) * 4;
                if (quotedIhl < 20 || quoted.Length < quotedIhl + 4) return false;
                id = new FourTuple(
                    new IpEndpoint(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(quoted[12..])), BinaryPrimitives.ReadUInt16BigEndian(quoted[quotedIhl..])),
                    new IpEndpoint(new Ipv4Address(BinaryPrimitives.ReadUInt32BigEndian(quoted[16..])), BinaryPrimitives.ReadUInt16BigEndian(quoted[(quotedIhl + 2)..])));
                return true;
            default:
                return false;
        }
    }

    private sealed class ShardClaims(FourTupleOwners owners, int shard) : IFourTupleClaims
    {
        public bool TryClaim(FourTuple id) =>
            owners._owners.TryAdd(id, shard) || owners._owners.TryGetValue(id, out int owner) && owner == shard;

        public void Release(FourTuple id) => owners._owners.TryRemove(KeyValuePair.Create(id, shard));
    }
}
