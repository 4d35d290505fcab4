using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>
/// Faults on the live path: wraps the runtime's device (a TUN interface) and applies <see cref="FaultRule"/>s to both
/// directions — to the kernel (what the stack writes, <see cref="PacketDirection.Outbound"/>) and from the kernel (what
/// the stack reads, <see cref="PacketDirection.Inbound"/>). It only ever sees the packets of the device it wraps, so a
/// rule cannot touch any other traffic.
/// <para>
/// Outbound: a write is dropped, corrupted, duplicated, or handed to the device later (a delay, or held back until the
/// next outbound packet has gone, or its hold time is up); late packets go from a timer, on the system clock a thread of the
/// device's own (<see cref="DedicatedTimer"/>), so a busy thread pool cannot make them late. Inbound: <see cref="TryRead"/>
/// and <see cref="WaitReadable"/> take what the device has, decide each packet's fate and queue the survivors, each
/// readable when due, so delays cost the reader no thread of its own. Every packet goes to the <see cref="IPacketTap"/> (a pcapng capture) as
/// the link carried it, the dropped ones included and each fault noted; every fault also goes to <see cref="OnFault"/>.
/// </para>
/// <para>Randomness (rules with a probability, corruption) comes from one generator seeded by the caller: the same
/// seed and the same traffic give the same fates. Thread-safe as <see cref="IPacketDevice"/> asks: one reader, any writers.
/// A multi-queue device gets one injector per queue on one link (<see cref="ForQueues"/>).</para>
/// </summary>
public sealed class FaultInjectingDevice : IPacketDevice
{
    private readonly IPacketDevice _inner;
    private readonly FaultLink _link;
    // Outbound packets waiting for their instant (delays, released holds), by (instant, order); guarded by _out.
    private readonly Lock _out = new();
    private readonly PriorityQueue<Pending, (TimeSpan Due, long Order)> _outLater = new();
    private long _outOrder;
    // At most one outbound packet held back behind the next one, with the instant its hold ends; guarded by _out.
    private (Pending Packet, TimeSpan Due)? _outHeld;
    private readonly ITimer _timer;
    // Inbound packets decided and waiting to be read, by the instant they may be; only the reader thread touches them.
    private readonly PacketQueue _in;
    private readonly PacketQueue _inHeld;
    private readonly byte[] _readBuffer;
    private int _disposed;

    /// <param name="inner">The device the packets really cross; disposed with this one.</param>
    /// <param name="rules">The rules, each evaluated for every packet in order.</param>
    /// <param name="seed">Seeds the generator for probabilities and corruption.</param>
    /// <param name="time">Runs the timers of delayed packets; by default the system's, which then go from a thread of the device's own.</param>
    /// <param name="states">Where rules that select by UserTcp's connection state look it up.</param>
    /// <param name="tap">Records every packet, faults noted.</param>
    /// <param name="clock">The instants of time windows and records (the stack's clock, so both agree); by default the time since construction on <paramref name="time"/>.</param>
    public FaultInjectingDevice(IPacketDevice inner, IEnumerable<FaultRule> rules, int seed, TimeProvider? time = null,
        IConnectionStateSource? states = null, IPacketTap? tap = null, Func<TimeSpan>? clock = null)
        : this(inner, new FaultLink(rules, seed, time, states, tap, clock))
    {
    }

    private FaultInjectingDevice(IPacketDevice inner, FaultLink link)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _link = link;
        int mtu = Math.Max(inner.Mtu, 1500);
        _in = new PacketQueue(mtu);
        _inHeld = new PacketQueue(mtu);
        _readBuffer = new byte[mtu];
        // Real time releases from a thread of its own: the system timer's callbacks wait for the thread pool (on a loaded CI
        // machine a FIN held 150 ms left with the segment behind it); any other TimeProvider (a manual clock) fires inside Advance.
        _timer = link.Time == TimeProvider.System
            ? new DedicatedTimer(ReleaseOutbound, "fault delays")
            : link.Time.CreateTimer(_ => ReleaseOutbound(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// One injector per queue of a multi-queue device (each queue has its own reader), all on one link: they share the
    /// rules, the generator, the counters, the tap and <see cref="OnFault"/>, so the rules see the packets of every queue
    /// as one stream (a rule that counts counts them all) and the counters are the link's. What a queue holds back waits
    /// for that queue's next packet, and delayed packets leave on the queue they came by, so a flow's order changes only
    /// as its rules say. The parameters are the constructor's; every queue is disposed with its injector. The tap and
    /// <see cref="OnFault"/> are called from every queue's reader and writers at once, so they must be thread-safe
    /// (<see cref="PcapNgWriter"/> is).
    /// </summary>
    public static IReadOnlyList<FaultInjectingDevice> ForQueues(IReadOnlyList<IPacketDevice> queues, IEnumerable<FaultRule> rules, int seed,
        TimeProvider? time = null, IConnectionStateSource? states = null, IPacketTap? tap = null, Func<TimeSpan>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(queues);
        if (queues.Count == 0) throw new ArgumentException("no queues", nameof(queues));
        var link = new FaultLink(rules, seed, time, states, tap, clock);
        return [.. queues.Select(queue => new FaultInjectingDevice(queue, link))];
    }

    /// <summary>The rules, in the order they are tried.</summary>
    public IReadOnlyList<FaultRule> Rules => _link.Rules.Rules;
    /// <summary>What the rules have done so far (on every queue of the link).</summary>
    public FaultCounters Counters => _link.Counters;

    /// <summary>Called for every fault applied (on the thread that applied it); one handler for every queue of the link.</summary>
    public Action<FaultEvent>? OnFault
    {
        get => _link.OnFault;
        set => _link.OnFault = value;
    }

    /// <summary>The clock of rules' time windows and of the tap's records.</summary>
    public TimeSpan Now => _link.Now;

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;

    /// <summary>
    /// The inner device's queue refuses the packet, or a <c>refuse</c> rule picks it (a full local queue): then UserTcp's
    /// TCP hears of it at once and retries, as Linux's does after NET_XMIT_DROP. A refused packet is logged and recorded
    /// with its note, as a dropped one is, though it never reached the link.
    /// </summary>
    public bool RefusesTransmit(ReadOnlySpan<byte> packet)
    {
        if (_inner.RefusesTransmit(packet)) return true;
        if (!_link.Rules.Refuses) return false; // asked for every packet sent: no clock read and no lock without a refuse rule
        TimeSpan now = Now;
        FaultRule? refuser;
        lock (_link.Decide) refuser = _link.Rules.EvaluateRefusal(packet, now, _link.States, _link.Random);
        if (refuser is null) return false;
        FaultNote note = Note(FaultAction.Refused, refuser, "UserTcp's own device queue refused it: TCP heard so at once and tries again (never reached the kernel)");
        Applied(refuser, () => Counters.Refused++);
        _link.Tap?.Record(packet, PacketDirection.Outbound, now, note);
        Report(now, note, packet);
        return true;
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> packet)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        TimeSpan now = Now;
        RuleVerdict verdict;
        FaultCorruption? corruption = null;
        byte[]? corrupted = null;
        (byte[]? marked, EcnCodepoint? markedFrom) = (null, null);
        lock (_link.Decide)
        {
            Counters.Transmitted++;
            verdict = _link.Rules.Evaluate(packet, PacketDirection.Outbound, now, _link.States, _link.Random);
            if (verdict.Drop is null && verdict.Mark is not null) (marked, markedFrom) = EcnField.MarkedCopy(packet);
            if (verdict.Corrupt is not null)
            {
                corrupted = marked ?? packet.ToArray();
                corruption = FaultCorruption.Apply(corrupted, _link.Random);
            }
        }
        if (verdict.Drop is FaultRule dropper)
        {
            var note = Note(FaultAction.Dropped, dropper, "never reached the kernel");
            Applied(dropper, () => Counters.DroppedByRule++);
            _link.Tap?.Record(packet, PacketDirection.Outbound, now, note);
            Report(now, note, packet);
            return;
        }
        ReadOnlySpan<byte> bytes = corrupted ?? marked ?? packet;
        FaultNote? first = null;
        if (markedFrom is EcnCodepoint from && verdict.Mark is FaultRule marker)
        {
            first = Note(FaultAction.Marked, marker, $"{EcnField.Name(from)} → CE on the way to the kernel");
            Applied(marker, () => Counters.Marked++);
            Report(now, first.Value, bytes);
        }
        if (verdict.Corrupt is FaultRule corrupter)
        {
            FaultNote note = Note(FaultAction.Corrupted, corrupter, $"{corruption} on the way to the kernel");
            Applied(corrupter, () => Counters.Corrupted++);
            Report(now, note, bytes);
            first = Combine(note, first);
        }
        FaultNote? copyNote = null;
        if (verdict.Duplicate is FaultRule duplicator)
        {
            copyNote = Note(FaultAction.Duplicated, duplicator, "the kernel got this packet twice; this is the copy");
            Applied(duplicator, () => Counters.Duplicated++);
            Report(now, copyNote.Value, bytes);
        }
        lock (_out)
        {
            if (verdict.HoldBack is FaultRule holder && _outHeld is null)
            {
                FaultNote held = Note(FaultAction.HeldBack, holder,
                    string.Create(CultureInfo.InvariantCulture, $"held back behind UserTcp's next packet (at most {holder.Delay.TotalMilliseconds:0.###} ms), sent at {now.TotalSeconds:0.000000} s")) with { TookAt = now };
                Applied(holder, () => Counters.HeldBack++);
                Report(now, held, bytes);
                _outHeld = (new Pending(bytes.ToArray(), Combine(held, first)), now + holder.Delay);
                if (copyNote is not null) Later(bytes, now + holder.Delay, copyNote);
                ArmTimer(now);
                return;
            }
            TimeSpan due = now;
            if (verdict.Delay is FaultRule delayer)
            {
                due = now + delayer.Delay;
                FaultNote delayed = Note(FaultAction.Delayed, delayer,
                    string.Create(CultureInfo.InvariantCulture, $"delayed {delayer.Delay.TotalMilliseconds:0.###} ms on the way to the kernel, sent at {now.TotalSeconds:0.000000} s")) with { TookAt = now };
                Applied(delayer, () => Counters.Delayed++);
                Report(now, delayed, bytes);
                first = Combine(delayed, first);
                copyNote = copyNote is null ? null : Combine(delayed, copyNote);
            }
            ReleaseDue(now);
            if (due == now)
            {
                Forward(bytes, now, first);
                if (copyNote is not null) Forward(bytes, now, copyNote);
            }
            else
            {
                Later(bytes, due, first);
                if (copyNote is not null) Later(bytes, due, copyNote);
            }
            // This packet is the "next one" a held packet waits for: the held one follows it.
            if (_outHeld is ((byte[] waiting, var note), _))
            {
                _outHeld = null;
                if (due == now) Forward(waiting, now, note);
                else Later(waiting, due, note);
            }
            ArmTimer(now);
        }
    }

    /// <inheritdoc/>
    public bool WaitReadable(TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        if (!infinite) ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        TimeSpan deadline = infinite ? TimeSpan.MaxValue : Now + timeout;
        while (true)
        {
            if (ReadyNow()) return true;
            TimeSpan now = Now;
            if (now >= deadline) return false;
            TimeSpan until = deadline;
            if (_in.NextDue is TimeSpan next && next < until) until = next;
            if (_inHeld.NextDue is TimeSpan held && held < until) until = held;
            _inner.WaitReadable(until == TimeSpan.MaxValue ? Timeout.InfiniteTimeSpan : until - now);
        }
    }

    /// <inheritdoc/>
    public bool TryRead(Span<byte> packet, out int length)
    {
        length = 0;
        if (!ReadyNow()) return false;
        _in.TryPeek(out ReadOnlySpan<byte> ready, out _);
        length = ready.Length;
        ready.CopyTo(packet);
        _in.Dequeue();
        return true;
    }

    // Decides the fate of everything the kernel has sent so far, releases what is due, and says whether a packet is ready.
    private bool ReadyNow()
    {
        while (_inner.TryRead(_readBuffer, out int length)) Decide(_readBuffer.AsSpan(0, length));
        TimeSpan now = Now;
        ReleaseHeldInbound(now);
        return _in.TryPeek(out _, out TimeSpan due) && due <= now;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _timer.Dispose(); // a delay line's thread has ended when this returns: nothing is released after
        _inner.Dispose();
    }

    // Decides the fate of one packet the kernel sent; survivors wait in _in until due.
    private void Decide(Span<byte> packet)
    {
        TimeSpan now = Now;
        RuleVerdict verdict;
        FaultCorruption? corruption = null;
        Span<byte> corrupted = default;
        (byte[]? marked, EcnCodepoint? markedFrom) = (null, null);
        lock (_link.Decide)
        {
            Counters.Transmitted++;
            verdict = _link.Rules.Evaluate(packet, PacketDirection.Inbound, now, _link.States, _link.Random);
            if (verdict.Drop is null && verdict.Mark is not null) (marked, markedFrom) = EcnField.MarkedCopy(packet);
            if (verdict.Drop is null && verdict.Corrupt is not null)
            {
                corrupted = (marked ?? packet).ToArray();
                corruption = FaultCorruption.Apply(corrupted, _link.Random);
            }
        }
        // A marked packet is recorded marked, as the router's far side would capture it (a corrupted one as the kernel sent it).
        if (marked is not null) packet = marked;
        if (!verdict.Any)
        {
            _link.Tap?.Record(packet, PacketDirection.Inbound, now, null);
            Deliver(packet, now);
            return;
        }
        if (verdict.Drop is FaultRule dropper)
        {
            FaultNote dropped = Note(FaultAction.Dropped, dropper, "never reached UserTcp");
            Applied(dropper, () => Counters.DroppedByRule++);
            _link.Tap?.Record(packet, PacketDirection.Inbound, now, dropped);
            Report(now, dropped, packet);
            return;
        }
        FaultNote? last = null;
        if (markedFrom is EcnCodepoint from && verdict.Mark is FaultRule marker)
        {
            last = Note(FaultAction.Marked, marker, $"{EcnField.Name(from)} → CE before UserTcp got it");
            Applied(marker, () => Counters.Marked++);
            Report(now, last.Value, packet);
        }
        if (verdict.Corrupt is FaultRule corrupter)
        {
            FaultNote note = Note(FaultAction.Corrupted, corrupter, $"UserTcp got it with {corruption}");
            Applied(corrupter, () => Counters.Corrupted++);
            Report(now, note, corrupted);
            last = Combine(note, last);
        }
        ReadOnlySpan<byte> deliver = corruption is null ? packet : corrupted;
        int copies = 1;
        if (verdict.Duplicate is FaultRule duplicator)
        {
            FaultNote note = Note(FaultAction.Duplicated, duplicator, "UserTcp got it twice");
            Applied(duplicator, () => Counters.Duplicated++);
            Report(now, note, packet);
            last = Combine(note, last);
            copies = 2;
        }
        if (verdict.HoldBack is FaultRule holder && _inHeld.Count == 0)
        {
            FaultNote note = Note(FaultAction.HeldBack, holder,
                string.Create(CultureInfo.InvariantCulture, $"held back behind the kernel's next packet (at most {holder.Delay.TotalMilliseconds:0.###} ms) before UserTcp got it")) with { TookAt = now };
            Applied(holder, () => Counters.HeldBack++);
            Report(now, note, packet);
            _link.Tap?.Record(packet, PacketDirection.Inbound, now, Combine(note, last));
            for (int i = 0; i < copies; i++) _inHeld.Enqueue(deliver, now + holder.Delay);
            return;
        }
        TimeSpan due = now;
        if (verdict.Delay is FaultRule delayer)
        {
            FaultNote note = Note(FaultAction.Delayed, delayer,
                string.Create(CultureInfo.InvariantCulture, $"delayed {delayer.Delay.TotalMilliseconds:0.###} ms before UserTcp got it")) with { TookAt = now };
            Applied(delayer, () => Counters.Delayed++);
            Report(now, note, packet);
            last = Combine(note, last);
            due = now + delayer.Delay;
        }
        _link.Tap?.Record(packet, PacketDirection.Inbound, now, last);
        for (int i = 0; i < copies; i++) Deliver(deliver, due);
    }

    // Queues a packet for the reader; a packet held back goes right behind it.
    private void Deliver(ReadOnlySpan<byte> packet, TimeSpan due)
    {
        if (due < Now) due = Now;
        _in.Enqueue(packet, due);
        int forwarded = 1;
        while (_inHeld.TryPeek(out ReadOnlySpan<byte> held, out _))
        {
            _in.Enqueue(held, due);
            forwarded++;
            _inHeld.Dequeue();
        }
        _link.Forwarded(forwarded);
    }

    private void ReleaseHeldInbound(TimeSpan now)
    {
        while (_inHeld.TryPeek(out ReadOnlySpan<byte> held, out TimeSpan due) && due <= now)
        {
            _in.Enqueue(held, due);
            _link.Forwarded();
            _inHeld.Dequeue();
        }
    }

    // Under _out: queues a copy of an outbound packet for its instant, with the note its record gets when it goes.
    private void Later(ReadOnlySpan<byte> packet, TimeSpan due, FaultNote? note) =>
        _outLater.Enqueue(new Pending(packet.ToArray(), note), (due, _outOrder++));

    private void ReleaseOutbound()
    {
        if (_disposed != 0) return;
        lock (_out)
        {
            TimeSpan now = Now;
            if (_outHeld is ((byte[] held, var note), TimeSpan heldDue) && heldDue <= now)
            {
                _outHeld = null;
                Later(held, heldDue, note);
            }
            ReleaseDue(now);
            ArmTimer(now);
        }
    }

    // Under _out: writes every queued outbound packet due by now, in (instant, order) order. One the device refuses (a TUN
    // write's EINVAL for a corrupted version, EIO when the interface is down) is lost alone and counted, as the runtime
    // loses a failed write: thrown here it would end the process on the delay line's thread, or cost a write its own packet.
    private void ReleaseDue(TimeSpan now)
    {
        while (_outLater.TryPeek(out Pending pending, out (TimeSpan Due, long) key) && key.Due <= now)
        {
            _outLater.Dequeue();
            try
            {
                Forward(pending.Packet, now, pending.Note);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _link.WriteFailed();
            }
        }
    }

    private void ArmTimer(TimeSpan now)
    {
        TimeSpan? next = _outLater.TryPeek(out _, out (TimeSpan Due, long) key) ? key.Due : null;
        if (_outHeld is (_, TimeSpan held) && (next is null || held < next)) next = held;
        if (next is TimeSpan due)
        {
            TimeSpan wait = due - now;
            _timer.Change(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
        }
    }

    private void Forward(ReadOnlySpan<byte> packet, TimeSpan now, FaultNote? note)
    {
        _link.Tap?.Record(packet, PacketDirection.Outbound, now, note);
        _link.Forwarded();
        _inner.Write(packet);
    }

    private void Applied(FaultRule rule, Action count)
    {
        lock (_link.Decide)
        {
            rule.Applied++;
            count();
        }
    }

    private static FaultNote Note(FaultAction action, FaultRule rule, string what) =>
        new(action, $"{Verb(action)} by rule '{rule.Description}': {what}", rule);

    private static string Verb(FaultAction action) => action switch
    {
        FaultAction.Dropped => "dropped",
        FaultAction.Delayed => "delayed",
        FaultAction.HeldBack => "held back",
        FaultAction.Duplicated => "duplicated",
        FaultAction.Corrupted => "corrupted",
        FaultAction.Marked => "CE-marked",
        FaultAction.Refused => "refused",
        _ => action.ToString(),
    };

    // One record can carry several faults; the action shown first is the one that shapes its timing.
    private static FaultNote Combine(FaultNote first, FaultNote? second) =>
        second is FaultNote other ? first with { Text = $"{first.Text}; {other.Text}", TookAt = first.TookAt ?? other.TookAt } : first;

    private readonly record struct Pending(byte[] Packet, FaultNote? Note);

    private void Report(TimeSpan now, FaultNote note, ReadOnlySpan<byte> packet) =>
        _link.OnFault?.Invoke(new FaultEvent(now, note.Action, note.Text, PacketFormatter.Format(packet), note.Rule));
}
