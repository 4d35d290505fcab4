namespace UserTcp.Engine;

/// <summary>
/// The sender's yes/no state, one bit each in one field: eleven bools took twelve bytes of every connection, and an idle
/// connection must stay within issue 10's 2 KB (MemoryTests).
/// </summary>
internal sealed partial class Sender
{
    [Flags]
    private enum SenderFlags : uint
    {
        None = 0,
        SentWithinMs = 1 << 0,
        BurstSent = 1 << 1,
        PushPending = 1 << 2,
        InRecovery = 1 << 3,
        ForceRetransmission = 1 << 4,
        ProbeWasRetransmission = 1 << 5,
        ProbeInRecovery = 1 << 6,
        ProbeDue = 1 << 7,
        ProbePairDue = 1 << 8,
        CwndLimited = 1 << 9,
        WindowCwndLimited = 1 << 10,
        HoldForMore = 1 << 11,
        WakeupDue = 1 << 12,
        Frto = 1 << 13,
        FrtoNewData = 1 << 14,
        UndoHold = 1 << 15,
        Ecn = 1 << 16,
        InCwr = 1 << 17,
        CwrQueued = 1 << 18,
        WakeupAttempted = 1 << 19,
        TimeoutResendDue = 1 << 20,
        SynAckOutstanding = 1 << 21,
        HandshakeLossWindow = 1 << 22,
        PersistBackoffRaised = 1 << 23,
        LossPhase = 1 << 24,
    }

    private SenderFlags _flags;

    private bool Has(SenderFlags flag) => (_flags & flag) != 0;

    private void Set(SenderFlags flag, bool on) => _flags = on ? _flags | flag : _flags & ~flag;
}
