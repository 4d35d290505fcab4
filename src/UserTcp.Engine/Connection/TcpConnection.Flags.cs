namespace UserTcp.Engine;

/// <summary>
/// The connection's yes/no state, one bit each in one field: eleven bools took eleven bytes (and their padding) of every
/// connection, and an idle connection must stay within issue 10's 2 KB (MemoryTests).
/// </summary>
public sealed partial class TcpConnection
{
    [Flags]
    private enum ConnectionFlags : uint
    {
        None = 0,
        SynAckForRepeatedSyn = 1 << 0,
        WriterBlocked = 1 << 1,
        SynDue = 1 << 2,
        DeferredAckSeen = 1 << 3,
        PendingReset = 1 << 4,
        IsOrphaned = 1 << 5,
        LingerZero = 1 << 6,
        IsPending = 1 << 7,
        InSynQueue = 1 << 8,
        WaitsForMemory = 1 << 9,
        WriteWaitsForMemory = 1 << 10,
        FromCookie = 1 << 11,
        EcnOk = 1 << 12,
        EcnSeen = 1 << 13,
        EcnDemandCwr = 1 << 14,
        FastOpenChild = 1 << 15,
        SynDataAcked = 1 << 16,
        FastOpenCookieDue = 1 << 17,
        FastOpenCookieExperimental = 1 << 18,
        FastOpenAccepted = 1 << 19,
    }

    private ConnectionFlags _flags;

    private bool Has(ConnectionFlags flag) => (_flags & flag) != 0;

    private void Set(ConnectionFlags flag, bool on) => _flags = on ? _flags | flag : _flags & ~flag;
}
