using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// The reader's choice of how many packets to take and whether to poll first (<see cref="AdaptiveReadLimit"/>), driven
/// by a modelled device and counted exactly: the syscalls (reads, reads that find nothing, polls) per request or packet
/// for request/response with the peer on our CPU or on another, and for bursts.
/// </summary>
public sealed class AdaptiveReadLimitTests
{
    private const int Probe = AdaptiveReadLimit.ProbeInterval;

    [Fact]
    public void Request_response_with_the_peer_on_our_CPU_costs_one_read_per_request_and_no_poll()
    {
        // Writing the answer ran the peer, whose next request is queued when the pass returns.
        var model = new Model(nextRequestArrives: Arrival.DuringThePass);
        model.Run(requests: 100 + 10 * Probe + 1);
        Counts window = model.AnsweredAt(100 + 10 * Probe) - model.AnsweredAt(100);

        Assert.True(model.Reading.OnePacketPerPass);
        Assert.Equal(10 * Probe, window.Packets);
        Assert.Equal(10, window.EmptyReads); // one read in ProbeInterval drains, to see whether packets queue up
        Assert.Equal(0, window.Polls);
        Assert.Equal(10 * Probe, window.Passes);
    }

    [Fact]
    public void Request_response_with_the_peer_on_another_CPU_costs_a_poll_and_a_read_per_request()
    {
        // The next request arrives only while the reader waits (the peer answers on its own CPU after a round trip).
        var model = new Model(nextRequestArrives: Arrival.WhileWaiting);
        model.Run(requests: 100 + 10 * (Probe - 1) + 1);
        Counts window = model.AnsweredAt(100 + 10 * (Probe - 1)) - model.AnsweredAt(100);

        Assert.True(model.Reading.OnePacketPerPass);
        Assert.Equal(10 * (Probe - 1), window.Packets);
        Assert.Equal(10 * (Probe - 1), window.Polls);
        // Every ProbeInterval - 1 passes a read right after the pass is tried again, and finds nothing.
        Assert.Equal(10, window.EmptyReads);
    }

    [Fact]
    public void A_request_now_and_then_that_is_not_there_yet_costs_one_poll_not_a_probe_interval_of_them()
    {
        // The peer on our CPU, but every 50th request comes late (our write did not run the peer at once).
        var model = new Model(nextRequestArrives: Arrival.DuringThePass, lateEvery: 50);
        const int Window = 50 * Probe;
        model.Run(requests: 1000 + Window + 1);
        Counts window = model.AnsweredAt(1000 + Window) - model.AnsweredAt(1000);

        Assert.Equal(Window, window.Packets);
        Assert.Equal(Window / 50, window.Polls); // one per late request
        Assert.Equal(Window / 50 + Window / Probe, window.EmptyReads); // the read that missed it, and the probes
    }

    [Fact]
    public void Until_two_single_packet_batches_in_a_row_the_reader_drains_then_reads_one_packet_per_pass()
    {
        var model = new Model(nextRequestArrives: Arrival.WhileWaiting);
        model.Run(requests: 3);
        // The first two requests: read, read empty, pass, then poll (the reader starts by reading, not polling). Then one
        // packet per pass, read first: the third request's read finds nothing and it polls for it.
        Assert.Equal(new Counts(Packets: 1, EmptyReads: 1, Polls: 0, Passes: 1), model.AnsweredAt(1));
        Assert.Equal(new Counts(Packets: 2, EmptyReads: 2, Polls: 1, Passes: 2), model.AnsweredAt(2));
        Assert.Equal(new Counts(Packets: 3, EmptyReads: 3, Polls: 2, Passes: 3), model.AnsweredAt(3));
        Assert.True(model.Reading.OnePacketPerPass);
    }

    [Fact]
    public void A_burst_sends_the_reader_back_to_draining_within_one_probe_interval()
    {
        var model = new Model(nextRequestArrives: Arrival.DuringThePass);
        model.Run(requests: 100);
        Assert.True(model.Reading.OnePacketPerPass);

        model.Queue(500); // a bulk sender's packets, queued behind each other
        Counts before = model.Counts;
        model.ReadUntilEmpty();
        Counts burst = model.Counts - before;

        Assert.False(model.Reading.OnePacketPerPass);
        Assert.Equal(500, burst.Packets);
        // At most a probe interval of one-packet passes; then batches of ReceiveBatch.MaxPackets, and one poll at the end.
        Assert.True(burst.Passes <= Probe + (500 / ReceiveBatch.MaxPackets) + 1, $"{burst.Passes} passes");
        Assert.Equal(1, burst.EmptyReads);
    }

    [Fact]
    public void Draining_reads_every_queued_packet_before_one_pass_and_polls_once_the_device_is_empty()
    {
        var model = new Model(nextRequestArrives: Arrival.WhileWaiting);
        for (int burst = 0; burst < 10; burst++)
        {
            model.Queue(3);
            model.ReadUntilEmpty();
        }
        Assert.False(model.Reading.OnePacketPerPass);
        // A poll before each burst but the first (the reader starts by reading).
        Assert.Equal(new Counts(Packets: 30, EmptyReads: 10, Polls: 9, Passes: 10), model.Counts);
    }

    private enum Arrival
    {
        DuringThePass,
        WhileWaiting,
    }

    private readonly record struct Counts(int Packets, int EmptyReads, int Polls, int Passes)
    {
        public static Counts operator -(Counts a, Counts b) =>
            new(a.Packets - b.Packets, a.EmptyReads - b.EmptyReads, a.Polls - b.Polls, a.Passes - b.Passes);
    }

    /// <summary>The reader's loop (StackShard.ReadLoop) over a device modelled as a count of queued packets.</summary>
    private sealed class Model(Arrival nextRequestArrives, int lateEvery = 0)
    {
        private readonly List<Counts> _answered = [];
        private int _queued;
        private int _requestsLeft;
        private bool _nextOnWait;

        public AdaptiveReadLimit Reading;
        public Counts Counts { get; private set; }

        /// <summary>The counts as the pass that answered request <paramref name="request"/> (from 1) ran.</summary>
        public Counts AnsweredAt(int request) => _answered[request - 1];

        public void Queue(int packets) => _queued += packets;

        /// <summary>A request/response exchange of <paramref name="requests"/> requests, the first one queued now.</summary>
        public void Run(int requests)
        {
            _requestsLeft = requests - 1;
            _queued++;
            ReadUntilEmpty();
        }

        /// <summary>Runs the loop until the reader would wait with nothing on the way.</summary>
        public void ReadUntilEmpty()
        {
            for (int step = 0; step < 100_000; step++)
            {
                if (Reading.PollNext)
                {
                    if (_nextOnWait)
                    {
                        _nextOnWait = false;
                        _queued++;
                    }
                    if (_queued == 0) return; // the reader waits: nothing more comes
                    Counts = Counts with { Polls = Counts.Polls + 1 };
                }
                int limit = Reading.Limit;
                int count = Math.Min(limit, _queued);
                _queued -= count;
                bool drained = count < limit; // the read after the last packet found the device empty
                Counts = Counts with { Packets = Counts.Packets + count, EmptyReads = Counts.EmptyReads + (drained ? 1 : 0) };
                if (count > 0)
                {
                    Counts = Counts with { Passes = Counts.Passes + 1 };
                    Answer(count);
                }
                Reading.Record(limit, count, drained);
            }
            throw new InvalidOperationException("the reader never came to wait");
        }

        // The pass answered the request(s) it read: the peer's next request comes during it or while the reader waits.
        private void Answer(int count)
        {
            for (int i = 0; i < count; i++)
            {
                _answered.Add(Counts);
                if (_requestsLeft == 0) continue;
                _requestsLeft--;
                bool late = lateEvery > 0 && _answered.Count % lateEvery == 0;
                if (nextRequestArrives == Arrival.DuringThePass && !late) _queued++;
                else _nextOnWait = true;
            }
        }
    }
}
