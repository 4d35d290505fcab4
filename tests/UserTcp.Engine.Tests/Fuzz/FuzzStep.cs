namespace UserTcp.Engine.Tests.Fuzz;

/// <summary>What one fuzz step does to the engine.</summary>
internal enum FuzzAction : byte
{
    /// <summary>A well-formed segment from the peer, its fields chosen around the connection's numbers.</summary>
    Segment,
    /// <summary>The same, damaged on the wire (checksum, lengths, IHL, data offset, options, fragment, address).</summary>
    Damaged,
    /// <summary>An ICMP message quoting one of our segments (RFC 5927), or an echo request.</summary>
    Icmp,
    /// <summary>A segment from a new peer port: a SYN to the listener or a stray segment.</summary>
    NewPeer,
    /// <summary>The clock moves on (to the next deadline, or by some time) and the engine is polled.</summary>
    Advance,
    UserSend,
    UserReceive,
    /// <summary>Close, Shutdown (either way) or Abort.</summary>
    UserClose,
    /// <summary>An active open to another port of the peer.</summary>
    UserConnect,
}

/// <summary>
/// One step of a fuzz scenario, decoded from <see cref="Words"/> generated numbers. All zeros decode to the simplest
/// step (a plain ACK at RCV.NXT/SND.NXT on the main connection), so CsCheck's shrinking, which drives numbers toward
/// zero, drives a failing scenario toward plain segments.
/// </summary>
internal readonly record struct FuzzStep(uint W0, uint W1, uint W2, uint W3, uint W4, uint W5, uint W6, uint W7)
{
    public const int Words = 8;

    public static FuzzStep Read(ReadOnlySpan<uint> genome, int index)
    {
        ReadOnlySpan<uint> w = genome.Slice(index * Words, Words);
        return new FuzzStep(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    }

    public FuzzAction Action => (W0 % 100) switch
    {
        < 55 => FuzzAction.Segment,
        < 67 => FuzzAction.Damaged,
        < 72 => FuzzAction.Icmp,
        < 76 => FuzzAction.NewPeer,
        < 86 => FuzzAction.Advance,
        < 91 => FuzzAction.UserSend,
        < 96 => FuzzAction.UserReceive,
        < 98 => FuzzAction.UserClose,
        _ => FuzzAction.UserConnect,
    };

    /// <summary>Which known 4-tuple the step is about (0: the scenario's main connection).</summary>
    public int Target(int known) => (int)(W7 & 0xFF) % known;

    /// <summary>A number for the action's own choices (how long to advance, how much to send, which damage).</summary>
    public uint Detail => W0 / 100;

    public override string ToString() => $"{Action} {W0:x8} {W1:x8} {W2:x8} {W3:x8} {W4:x8} {W5:x8} {W6:x8} {W7:x8}";
}
