namespace UserTcp.Link;

/// <summary>A TCP packet the kernel sent to UserTcp, at the instant the kernel handed it to the TUN device (stack time).</summary>
public readonly record struct KernelTransmission(TimeSpan At, TcpSegmentInfo Segment);
