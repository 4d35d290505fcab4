using System.Globalization;

namespace UserTcp.Link;

/// <summary>A TCP packet the kernel sent to UserTcp, at the instant the kernel handed it to the TUN device (stack time).</summary>
public readonly record struct KernelTransmission(TimeSpan At, TcpSegmentInfo Segment)
{
    /// <summary>A packet UserTcp read this much after the kernel sent it, or more, is pointed out (below it is the reader's usual wake-up).</summary>
    public static readonly TimeSpan LateReadThreshold = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// "UserTcp read it 12.3 ms later" for a packet from the kernel sent at <paramref name="sent"/> and read at
    /// <paramref name="read"/> at least <see cref="LateReadThreshold"/> later; null otherwise. The lab's ladder and timeline
    /// and every capture's packet comment say it in these words.
    /// </summary>
    public static string? LateReadNote(TimeSpan sent, TimeSpan read) =>
        read - sent >= LateReadThreshold
            ? string.Create(CultureInfo.InvariantCulture, $"UserTcp read it {(read - sent).TotalMilliseconds:0.0} ms later")
            : null;
}
