namespace UserTcp.Tun;

/// <summary>What one read of a <see cref="KernelPacketSocket"/> gave.</summary>
public enum KernelPacketRead
{
    /// <summary>Nothing waited (or a signal interrupted the read).</summary>
    Empty,
    /// <summary>A packet that is not a TCP packet the kernel sent to UserTcp: read and passed over.</summary>
    Other,
    /// <summary>A TCP packet the kernel sent to UserTcp, with the kernel's instant.</summary>
    Transmission,
    /// <summary>The socket failed; the failure says why.</summary>
    Failed,
}
