namespace UserTcp.Engine;

/// <summary>
/// Where several engines share one address (the shards of a multi-queue stack), each 4-tuple belongs to one of them:
/// an engine claims a 4-tuple before a connection of its own uses it, and releases it when the connection (or its
/// TIME-WAIT record) is forgotten. The runtime behind it also steers a packet that reached the wrong shard to the
/// owner (docs/design.md "Several cores").
/// </summary>
public interface IFourTupleClaims
{
    /// <summary>Claims <paramref name="id"/> for this engine; false when another engine holds it.</summary>
    bool TryClaim(FourTuple id);

    /// <summary>Gives <paramref name="id"/> back; it was claimed by this engine.</summary>
    void Release(FourTuple id);
}
