using System.Globalization;

namespace UserTcp.Link;

/// <summary>What a fault injector did to a packet.</summary>
public enum FaultAction
{
    /// <summary>Lost.</summary>
    Dropped,
    /// <summary>Sent twice.</summary>
    Duplicated,
    /// <summary>Held back behind this side's next packet (reordering).</summary>
    HeldBack,
    /// <summary>Handed on later.</summary>
    Delayed,
    /// <summary>One byte flipped, so a checksum refuses it.</summary>
    Corrupted,
    /// <summary>Its IP ECN field set to CE (congestion experienced), as an AQM router marks instead of dropping (RFC 3168 §5).</summary>
    Marked,
    /// <summary>
    /// Refused by the stack's own device queue before it left (a full local queue): UserTcp's TCP hears of it at once,
    /// as Linux's does of NET_XMIT_DROP, and retries. Only what UserTcp sends, on the live path (<see cref="IPacketDevice.RefusesTransmit"/>).
    /// </summary>
    Refused,
}

/// <summary>
/// One fault applied: when, what, why (<see cref="Detail"/>, e.g. "dropped by rule 'drop the first FIN'") and the
/// packet as tcpdump would print it. <see cref="Rule"/> is the rule responsible, null for random faults.
/// </summary>
public sealed record FaultEvent(TimeSpan At, FaultAction Action, string Detail, string Packet, FaultRule? Rule = null)
{
    /// <summary>"0.123456 s dropped by rule '...': IP ...".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{At.TotalSeconds:0.000000} s {Detail}: {Packet}");
}
