namespace UserTcp.Link;

/// <summary>Which way a packet travels, seen from the stack that owns the device.</summary>
public enum PacketDirection : byte
{
    /// <summary>From the peer to the stack; on a TUN device, from the kernel to UserTcp.</summary>
    Inbound,
    /// <summary>From the stack to the peer; on a TUN device, from UserTcp to the kernel.</summary>
    Outbound,
}
