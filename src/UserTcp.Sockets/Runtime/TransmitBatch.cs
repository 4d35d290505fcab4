using System.Runtime.InteropServices;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// What the engine sends during one hold of the engine lock: packets written in place in one arena (the engine asks
/// for room with <see cref="GetBuffer"/>, so each packet is copied once, from the send buffer into the arena, and
/// from there written to the device), the user calls that hold completes, and nothing else. Written to the device
/// as a whole once the engine lock is released.
/// <para>
/// Offloads: each packet is kept as a frame, with the device's headroom (its virtio_net_hdr) reserved before it, so the
/// device writes header and packet at once; beside it, what the device is to finish: a partial checksum (when the device
/// completes checksums, the engine writes only the pseudo-header sum) and, for a TSO super-segment, the segment size.
/// With TSO, a data segment that directly follows a full-sized one of the same connection with the same headers joins
/// it (<see cref="TcpSuperSegment"/>): one write carries up to 64 KiB, and the kernel cuts it back into exactly the
/// segments the engine sent. The engine's scoreboard stays per segment; only the device write is shared.
/// </para>
/// <para>
/// ACK coalescing, where no information is lost: a pure ACK (no data, no SYN, FIN or RST, no SACK blocks) that
/// advanced the acknowledgment is dropped when a later segment of the same connection in the batch acknowledges more
/// still. Duplicate ACKs (the same acknowledgment number again, as out-of-order data calls for, RFC 5681 §4.2), the
/// first ACK of each connection in a batch (it may duplicate the last one sent before), and ACKs carrying SACK blocks
/// always go out, each of them. The engine's segments come with the fields this reads (<see cref="TransmitSegment"/>);
/// anything else is parsed.
/// </para>
/// </summary>
internal sealed class TransmitBatch : IPacketTransmitter
{
    public const int MaxPackets = 128;

    private readonly IBatchOwner _owner;
    // Invariant: frame i is _arena[_slots[i].Offset .. + _headroom + Length], its packet after the headroom, in the
    // order the engine sent them, i < _count.
    private readonly byte[] _arena;
    private readonly int _headroom;
    // What every TCP packet carries when the device completes checksums: only the pseudo-header sum.
    private readonly PacketChecksum _checksum;
    // The most TCP payload one super-segment may carry (TSO); 0 when the device cuts nothing.
    private readonly int _segmentationLimit;
    private readonly Slot[] _slots = new Slot[MaxPackets];
    // User calls completed in this hold, signalled once the batch has gone out (never under the engine lock).
    private readonly List<CompletedCall> _completions = [];
    private int _count;
    private int _used;

    /// <summary>A batch for <paramref name="owner"/> with an arena of <paramref name="arenaBytes"/>, framed for a device with <paramref name="offloads"/> (its headroom, checksum completion and segmentation).</summary>
    public TransmitBatch(IBatchOwner owner, int arenaBytes, DeviceOffloads offloads = default)
    {
        _owner = owner;
        _arena = GC.AllocateArray<byte>(arenaBytes, pinned: true);
        _headroom = offloads.Headroom;
        _checksum = offloads.TransmitChecksum ? PacketChecksum.Partial : PacketChecksum.Complete;
        PartialChecksums = offloads.TransmitChecksum;
        _segmentationLimit = offloads.TransmitChecksum ? offloads.TransmitSegmentation : 0;
    }

    public bool PartialChecksums { get; }

    /// <summary>Packets to write (false: at most calls to signal).</summary>
    public bool HasPackets => _count > 0;

    /// <summary>Pure ACKs this batch dropped because a later segment acknowledged more.</summary>
    public long AcksCoalesced { get; private set; }

    /// <summary>Segments that joined the super-segment before them instead of going out on their own (TSO).</summary>
    public long SegmentsJoined { get; private set; }

    public Span<byte> GetBuffer(int length)
    {
        if (_count == MaxPackets || _arena.Length - _used < _headroom + length)
        {
            _owner.WriteNow(this); // full: what is here goes out first, so order is kept
        }
        return _arena.Length - _used >= _headroom + length ? _arena.AsSpan(_used + _headroom, length) : default;
    }

    /// <summary>A packet whose fields the batch reads from it (an ICMP message, or a caller other than the engine).</summary>
    public void Transmit(ReadOnlySpan<byte> packet)
    {
        if (_owner.RefusesTransmit(packet)) return; // the device's queue refuses it: dropped here, as a qdisc drops it
        if (!TryPlace(packet, OffloadFor(packet), out Slot slot)) return;
        PacketsParsed++;
        Describe(ref slot, packet);
        Add(ref slot);
    }

    /// <summary>
    /// A TCP segment from the engine, with the fields coalescing reads (it need not be parsed again). Refused, not
    /// queued, when the device's queue refuses it (<see cref="IPacketDevice.RefusesTransmit"/>): the engine hears so at
    /// once, as Linux's TCP hears NET_XMIT_DROP from its qdisc.
    /// </summary>
    public TransmitResult TransmitSegment(ReadOnlySpan<byte> packet, FourTuple connection, in SegmentSummary segment, bool carriesSack)
    {
        if (_owner.RefusesTransmit(packet)) return TransmitResult.Refused;
        if (!TryPlace(packet, new PacketOffload(_checksum), out Slot slot)) return TransmitResult.Sent;
        slot.Connection = connection;
        slot.Acknowledges = (segment.Flags & TcpFlags.Ack) != 0 && (segment.Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0;
        slot.Ack = segment.Ack;
        slot.PureAck = segment.Flags == TcpFlags.Ack && segment.PayloadLength == 0 && !carriesSack;
        Add(ref slot);
        return TransmitResult.Sent;
    }

    /// <summary>Packets whose fields the batch had to parse (<see cref="Transmit"/>), for tests that count them.</summary>
    public long PacketsParsed { get; private set; }

    /// <summary>
    /// Puts the packet at the arena's end (it is there already when written in place) and gives its slot to describe;
    /// false when it needs none: it joined the last packet (TSO) or was too large for the arena and went out alone.
    /// </summary>
    private bool TryPlace(ReadOnlySpan<byte> packet, PacketOffload offload, out Slot slot)
    {
        slot = default;
        if (!packet.Overlaps(_arena, out int offset) || offset != _used + _headroom)
        {
            // Written elsewhere (a packet larger than the arena): send what is queued, then this one, in order.
            if (_count == MaxPackets || _arena.Length - _used < _headroom + packet.Length)
            {
                _owner.WriteNow(this);
                if (_arena.Length < _headroom + packet.Length)
                {
                    _owner.WriteNow(packet, offload);
                    return false;
                }
            }
            packet.CopyTo(_arena.AsSpan(_used + _headroom));
        }
        if (TryJoinLast(packet.Length)) return false;
        slot = new Slot { Offset = _used, Length = packet.Length, Offload = offload };
        _used += _headroom + packet.Length;
        return true;
    }

    private void Add(ref Slot slot)
    {
        if (slot.Acknowledges) Coalesce(ref slot);
        _slots[_count++] = slot;
    }

    /// <summary>
    /// With TSO: the packet just written at the arena's end joins the batch's last packet when it continues it as the
    /// next segment of a super-segment; its frame is then given back.
    /// </summary>
    private bool TryJoinLast(int length)
    {
        if (_segmentationLimit == 0 || _count == 0) return false;
        ref Slot last = ref _slots[_count - 1];
        if (last.Dropped || last.Offset + _headroom + last.Length != _used) return false;
        int segmentSize = last.Offload.SegmentSize;
        int start = last.Offset + _headroom;
        if (!TcpSuperSegment.TryAppend(_arena.AsSpan(start), last.Length, _used + _headroom - start, length, ref segmentSize,
            _segmentationLimit, out int joined))
        {
            return false;
        }
        last.Length = joined;
        last.Offload = last.Offload with { SegmentSize = (ushort)segmentSize };
        _used = start + joined;
        SegmentsJoined++;
        return true;
    }

    /// <summary>
    /// What the device is to finish for a packet: a TCP packet carries the partial checksum the engine wrote when the
    /// device completes checksums; anything else (ICMP) is complete as written.
    /// </summary>
    private PacketOffload OffloadFor(ReadOnlySpan<byte> packet)
    {
        bool tcp = packet.Length >= Ipv4Packet.MinHeaderLength && packet[9] == Ipv4Packet.ProtocolTcp; // byte 9: the protocol
        return tcp ? new PacketOffload(_checksum) : default;
    }

    /// <summary>Keeps <paramref name="operation"/> to be signalled after this batch is written.</summary>
    public void Complete(IUserOperation operation) => _completions.Add(new CompletedCall(operation));

    /// <summary>
    /// Writes every packet still in the batch to <paramref name="device"/>, in order, and empties it (completions stay).
    /// The frames are queued and flushed together: a device that batches (TUN with io_uring) takes them in one system
    /// call; the arena is pinned and untouched until the flush returns, as queueing requires. A batch of one packet (a
    /// request's answer) is written as it is, and a batch with none (a pass that only finished calls) asks nothing of the
    /// device: queueing and flushing would cost the ring's locks and bookkeeping for the same one write(2), or for none.
    /// </summary>
    public void WriteTo(IPacketDevice device)
    {
        if (_count == 1)
        {
            Slot only = _slots[0];
            try
            {
                device.WriteFrame(_arena.AsSpan(only.Offset, _headroom + only.Length), only.Offload);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _owner.WriteFailed(only.Length, e);
            }
        }
        else if (_count > 1)
        {
            WriteQueued(device);
        }
        _count = 0;
        _used = 0;
    }

    private void WriteQueued(IPacketDevice device)
    {
        int queuedBytes = 0;
        for (int i = 0; i < _count; i++)
        {
            Slot slot = _slots[i];
            if (slot.Dropped) continue;
            Span<byte> frame = _arena.AsSpan(slot.Offset, _headroom + slot.Length);
            try
            {
                device.QueueFrame(frame, slot.Offload);
                queuedBytes += slot.Length;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A lost packet is what TCP recovers from; a failing device must not take the engine down with it.
                _owner.WriteFailed(slot.Length, e);
            }
        }
        try
        {
            device.FlushFrames();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _owner.WriteFailed(queuedBytes, e);
        }
    }

    /// <summary>
    /// After its packets went out: hands the user calls this batch completed to this thread's <see cref="Completions"/>,
    /// to be signalled once no lock is held; says whether there were any (with none, there is nothing to signal).
    /// </summary>
    public bool TakeCompletions()
    {
        if (_completions.Count == 0) return false; // most batches of a request/response complete nothing: no thread-static lookup
        Completions.Pending.AddRange(CollectionsMarshal.AsSpan(_completions));
        _completions.Clear();
        return true;
    }

    /// <summary>
    /// Drops the connection's latest earlier segment when it is a pure ACK that <paramref name="later"/> supersedes. Only
    /// an ACK known to have advanced (its predecessor in this batch acknowledged less) may go: the first ACK of a batch
    /// could be a duplicate of one sent before, and duplicates carry information.
    /// </summary>
    private void Coalesce(ref Slot later)
    {
        for (int i = _count - 1; i >= 0; i--)
        {
            ref Slot earlier = ref _slots[i];
            if (earlier.Dropped || earlier.Connection != later.Connection) continue;
            if (!earlier.Acknowledges) return;
            later.Advances = later.Ack > earlier.Ack;
            if (earlier.PureAck && earlier.Advances && later.Advances)
            {
                earlier.Dropped = true;
                AcksCoalesced++;
            }
            return;
        }
    }

    private static void Describe(ref Slot slot, ReadOnlySpan<byte> packet)
    {
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip, verifyChecksum: false) != WireError.None
            || TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false) != WireError.None)
        {
            return; // not something to coalesce
        }
        slot.Connection = new FourTuple(new IpEndpoint(ip.Source, tcp.SourcePort), new IpEndpoint(ip.Destination, tcp.DestinationPort));
        slot.Acknowledges = tcp.Has(TcpFlags.Ack) && (tcp.Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0;
        slot.Ack = tcp.AcknowledgmentNumber;
        slot.PureAck = tcp.Flags == TcpFlags.Ack && tcp.Payload.IsEmpty && tcp.Options.SackBlocks.IsEmpty;
    }

    private struct Slot
    {
        /// <summary>Where the frame starts: the device's headroom, then the packet.</summary>
        public int Offset;
        /// <summary>The packet's length (the frame is the headroom longer).</summary>
        public int Length;
        public PacketOffload Offload;
        public FourTuple Connection;
        public SeqNumber Ack;
        /// <summary>Carries an acknowledgment a later segment may supersede or use to supersede (ACK set, no SYN or RST).</summary>
        public bool Acknowledges;
        public bool PureAck;
        /// <summary>Acknowledges more than the connection's previous segment in this batch (so it is no duplicate ACK).</summary>
        public bool Advances;
        public bool Dropped;
    }
}

/// <summary>Where a full batch goes at once (the stack writes it under its transmit lock, keeping the order).</summary>
internal interface IBatchOwner
{
    void WriteNow(TransmitBatch full);

    /// <summary>Writes one packet at once, outside any batch (one too large for the arena), with what the device is to finish.</summary>
    void WriteNow(ReadOnlySpan<byte> packet, PacketOffload offload);

    /// <summary>A packet could not be written: logged, and left to TCP to recover.</summary>
    void WriteFailed(int length, Exception error);

    /// <summary>The device's queue refuses this packet now (<see cref="IPacketDevice.RefusesTransmit"/>); false by default.</summary>
    bool RefusesTransmit(ReadOnlySpan<byte> packet) => false;
}

/// <summary>A user call completed under the engine lock, signalled to its awaiter once the lock is released.</summary>
internal interface IUserOperation
{
    void Signal();
}

/// <summary>
/// A completed call in a list of them: a struct, so storing it is a plain copy (an array of an interface type checks
/// the type of every element stored, a measurable part of a same-vCPU request's managed time).
/// </summary>
internal readonly record struct CompletedCall(IUserOperation Operation);
