using Microsoft.Extensions.Logging;
using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

public class ListenerTests
{
    private static void Handshake(Harness h, ushort peerPort, bool finalAck = true)
    {
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: peerPort);
        Sent synAck = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        if (finalAck) h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: peerPort);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void The_accept_queue_holds_one_more_than_the_backlog_as_linux(int backlog)
    {
        // Linux's sk_acceptq_is_full is sk_ack_backlog > sk_max_ack_backlog: listen(fd, 0) still takes one connection,
        // listen(fd, 3) four; the next final ACK is dropped (ListenOverflows) and its SYN-ACK retried.
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog);
        for (int i = 0; i <= backlog; i++) Handshake(h, (ushort)(50000 + i));
        Assert.Equal(backlog + 1, listener.PendingAccepts);
        Assert.Equal(0, h.Engine.Counters.ListenOverflows);
        h.ExpectNothing();

        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50100);
        h.ExpectNothing(); // the accept queue is full: the SYN is dropped, cookie or not (tcp_conn_request)
        Assert.Equal(backlog + 1, listener.PendingAccepts);
        Assert.Equal(1, h.Engine.Counters.ListenOverflows);
        Assert.True(listener.TryAccept(out _));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50100);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, h.Next().Flags);
    }

    [Fact]
    public void Without_syn_cookies_a_full_syn_queue_drops_further_syns_so_the_peer_retries()
    {
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Off }); // with them (the default): Hardening/SynQueueTests.cs
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog: 1); // holds two, as Linux
        Handshake(h, 50001, finalAck: false);
        Handshake(h, 50002, finalAck: false);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50003);
        h.ExpectNothing();
        Assert.Equal(2, listener.SynQueueLength);
        Assert.Equal(1, h.Engine.Counters.ListenOverflows);
    }

    [Fact]
    public void A_full_accept_queue_drops_the_final_ack_and_the_syn_ack_is_retransmitted()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog: 0); // each queue holds one, as Linux
        TimeSpan synAt = h.Now;
        Handshake(h, 50002, finalAck: false); // its SYN came while the accept queue had room
        h.Advance(TimeSpan.FromMilliseconds(1));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50001); // SYN queue full: a cookie
        Sent cookie = h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, cookie.Seq + 1, window: 502, sourcePort: 50001);
        Assert.Equal(1, listener.PendingAccepts);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: 50002); // finds the accept queue full
        Assert.Equal(1, listener.PendingAccepts);
        h.ExpectNothing();
        Assert.Equal(TcpState.SynReceived, Assert.Single(h.Engine.Connections, c => c.RemoteEndpoint.Port == 50002).State);
        Assert.Equal(synAt + TimeSpan.FromSeconds(1), h.AdvanceToNextDeadline());
        Sent again = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        Assert.Equal(50002, again.DestinationPort);

        // Once the application accepts, the retried final ACK gets in.
        Assert.True(listener.TryAccept(out _));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: 50002);
        Assert.True(listener.TryAccept(out TcpConnection second));
        Assert.Equal(50002, second.RemoteEndpoint.Port);
    }

    [Theory]
    [InlineData(SynCookieMode.WhenSynQueueFull)]
    [InlineData(SynCookieMode.Always)]
    public void A_full_accept_queue_drops_new_syns_cookie_or_not_so_the_peer_retries_them(SynCookieMode cookies)
    {
        // Linux's tcp_conn_request. A SYN-ACK now, cookie or not, draws a final ACK that the same full queue drops; the
        // peer is then ESTABLISHED on a connection that a cookie keeps nothing of (issue 10: lost at 20,000 kernel clients).
        var h = new Harness(new TcpConfig { SynCookies = cookies });
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog: 0); // each queue holds one, as Linux
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50001);
        Sent synAck = h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, sourcePort: 50001);
        Assert.Equal(1, listener.PendingAccepts);
        h.ExpectNothing();
        long cookiesBefore = h.Engine.Counters[MibCounter.TcpExtSyncookiesSent];

        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50002);
        h.ExpectNothing(); // no SYN-ACK, no cookie, no half-open record, no timer
        Assert.Equal(cookiesBefore, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
        Assert.DoesNotContain(h.Engine.Connections, c => c.RemoteEndpoint.Port == 50002);
        Assert.Equal((1, 1), (h.Engine.Counters.ListenOverflows, h.Engine.Counters[MibCounter.TcpExtListenDrops]));
        Assert.Equal(TcpCause.AcceptQueueFull, Assert.Single(h.Log.Of(TcpEventKind.Dropped)).Cause);
        h.Advance(TimeSpan.FromSeconds(10));
        h.ExpectNothing(); // nothing kept, so no SYN-ACK is retransmitted either

        // Once the application accepts, the peer's retried SYN gets its SYN-ACK.
        Assert.True(listener.TryAccept(out _));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50002);
        Sent retried = h.Next();
        h.ExpectNothing();
        Assert.Equal((TcpFlags.Syn | TcpFlags.Ack, (ushort)50002), (retried.Flags, retried.DestinationPort));
    }

    [Fact]
    public void Closing_a_listener_resets_connections_waiting_to_be_accepted()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(80);
        Handshake(h, 50001);
        listener.Close();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50009);
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, 0, PeerIsn + 1);
    }

    [Fact]
    public void An_ack_for_a_closed_listeners_half_open_connection_is_answered_as_from_no_connection_with_window_0()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(80);
        Handshake(h, 50001, finalAck: false);
        // Close() drops half-open connections at once (RemoveListener); this is the check behind it, for one still there.
        typeof(TcpPassiveOpen).GetProperty(nameof(TcpPassiveOpen.IsClosed))!.SetValue(listener, true);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: 50001);
        Sent reset = h.Expect(TcpFlags.Rst, Isn + 1); // Linux's tcp_v4_send_reset: <SEQ=SEG.ACK><CTL=RST>, no ACK bit
        Assert.Equal(0, reset.Window);
        h.Poll();
        h.ExpectNothing(); // no second RST (no active reset of the connection as well)
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Equal(1, h.Engine.Counters.ResetsSent);
    }

    [Fact]
    public void A_second_listener_on_the_same_port_is_address_in_use()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        Assert.Equal(TcpError.AddressInUse, Assert.Throws<TcpException>(() => h.Engine.Listen(80)).Error);
    }
}

public class EventTests
{
    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, EventId Id, string Message)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId, formatter(state, exception)));
    }

    [Fact]
    public void Every_kind_of_event_reaches_the_log_with_a_stable_event_id()
    {
        var logger = new ListLogger();
        var h = new Harness(new TcpConfig { SynRetries = 1 });
        var engine = new TcpEngine(Harness.LocalAddress, h.Config with { SynRetries = 1 }, new LoggingEventSink(logger));
        TcpConnection c = engine.Connect(new IpEndpoint(Harness.PeerAddress, 9), 1234);
        engine.Poll(TimeSpan.Zero, h);
        engine.Poll(TimeSpan.FromSeconds(1), h); // SYN retransmitted
        engine.Poll(TimeSpan.FromSeconds(3), h); // gave up
        Assert.Equal(TcpError.TimedOut, c.Error);
        engine.Receive([0x45, 0], TimeSpan.FromSeconds(4), h); // malformed: counted and dropped

        Assert.Contains(logger.Lines, l => l.Id.Id == 102 && l.Message.Contains("[S] seq 4294967280", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Id.Id == 103 && l.Message.EndsWith("CLOSED -> SYN-SENT (connect)", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Id.Id == 104);
        Assert.Contains(logger.Lines, l => l.Id.Id == 105);
        Assert.Contains(logger.Lines, l => l.Id.Id == 106 && l.Message.Contains("#1", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Id.Id == 107 && l.Message.Contains("truncated", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Id.Id == 108 && l.Level == LogLevel.Information && l.Message.Contains("TimedOut", StringComparison.Ordinal));
        Assert.Equal(1, engine.Counters.Malformed(WireError.Truncated));
    }

    [Fact]
    public void A_passive_open_reads_listen_to_syn_received_in_the_log_while_the_counters_count_it_from_closed()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        TcpEvent open = Assert.Single(h.Log.Of(TcpEventKind.StateChanged));
        var logger = new ListLogger();
        new LoggingEventSink(logger).OnEvent(in open);

        // RFC 9293 §3.3.2: a passive open leaves LISTEN; the engine's child starts CLOSED, as its transition counters see it.
        Assert.Equal((TcpState.Closed, TcpState.Listen, TcpState.SynReceived), (open.OldState, open.DiagramOldState, open.NewState));
        Assert.EndsWith("LISTEN -> SYN-RECEIVED (SYN in LISTEN)", open.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("LISTEN -> SYN-RECEIVED (SYN in LISTEN)", Assert.Single(logger.Lines, l => l.Id.Id == 103).Message, StringComparison.Ordinal);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpPassiveOpens]);
        // Every other change reads its own old state.
        TcpEvent close = open with { Cause = TcpCause.Close, OldState = TcpState.Established, NewState = TcpState.FinWait1 };
        Assert.Equal(TcpState.Established, close.DiagramOldState);
    }

    [Fact]
    public void Events_fan_out_to_every_sink()
    {
        var first = new EventLog();
        var second = new EventLog();
        var engine = new TcpEngine(Harness.LocalAddress, events: new FanOutEventSink(first, second));
        engine.Connect(new IpEndpoint(Harness.PeerAddress, 9));
        Assert.NotEmpty(first.Events);
        Assert.Equal(first.Events, second.Events);
    }

    /// <summary>Records what it consumes, and how often it was asked.</summary>
    private sealed class KindsSink(params TcpEventKind[] kinds) : ITcpEventSink
    {
        public List<TcpEvent> Events { get; } = [];
        public int Asked { get; private set; }

        public bool Consumes(TcpEventKind kind)
        {
            Asked++;
            return kinds.Contains(kind);
        }

        public void OnEvent(in TcpEvent tcpEvent) => Events.Add(tcpEvent);
    }

    [Fact]
    public void A_sink_gets_only_the_kinds_it_consumes_asked_once_and_the_counters_count_the_rest_anyway()
    {
        var h = new Harness(new TcpConfig { SynRetries = 1 });
        var states = new KindsSink(TcpEventKind.StateChanged);
        var engine = new TcpEngine(Harness.LocalAddress, h.Config with { SynRetries = 1 }, states);
        Assert.Equal(Enum.GetValues<TcpEventKind>().Length, states.Asked);
        // Every kind the log test above sees: segments out, timers set and fired, a retransmission, an error, a drop.
        TcpConnection c = engine.Connect(new IpEndpoint(Harness.PeerAddress, 9), 1234);
        engine.Poll(TimeSpan.Zero, h);
        engine.Poll(TimeSpan.FromSeconds(1), h);
        engine.Poll(TimeSpan.FromSeconds(3), h);
        engine.Receive([0x45, 0], TimeSpan.FromSeconds(4), h);

        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Equal([TcpState.SynSent, TcpState.Closed], states.Events.Select(e => e.NewState));
        Assert.All(states.Events, e => Assert.Equal(TcpEventKind.StateChanged, e.Kind));
        Assert.Equal(Enum.GetValues<TcpEventKind>().Length, states.Asked); // not asked again per event
        Assert.Equal(1, engine.Counters.Malformed(WireError.Truncated)); // the drop nobody consumed is counted
        Assert.Equal(1, engine.Counters[MibCounter.TcpActiveOpens]);
        Assert.Equal(1, engine.Counters[MibCounter.TcpAttemptFails]);
    }

    [Fact]
    public void A_fan_out_delivers_each_kind_to_the_sinks_that_consume_it_and_consumes_what_any_of_them_does()
    {
        var states = new KindsSink(TcpEventKind.StateChanged);
        var segments = new KindsSink(TcpEventKind.SegmentOut);
        var fanOut = new FanOutEventSink(states, segments);
        Assert.True(fanOut.Consumes(TcpEventKind.StateChanged));
        Assert.True(fanOut.Consumes(TcpEventKind.SegmentOut));
        Assert.False(fanOut.Consumes(TcpEventKind.TimerSet));
        var h = new Harness();
        var engine = new TcpEngine(Harness.LocalAddress, h.Config, fanOut);
        engine.Connect(new IpEndpoint(Harness.PeerAddress, 9), 1234);
        engine.Poll(TimeSpan.Zero, h);
        Assert.Equal([TcpEventKind.StateChanged], states.Events.Select(e => e.Kind));
        Assert.Equal([TcpEventKind.SegmentOut], segments.Events.Select(e => e.Kind));
    }

    [Theory]
    [InlineData(LogLevel.Trace, "SegmentIn,SegmentOut,StateChanged,TimerSet,TimerFired,Retransmission,Dropped,ConnectionError,Warning,CongestionUndo,CongestionWindowReduced")]
    [InlineData(LogLevel.Debug, "StateChanged,Retransmission,Dropped,ConnectionError,Warning,CongestionUndo,CongestionWindowReduced")]
    [InlineData(LogLevel.Information, "StateChanged,ConnectionError,Warning")]
    [InlineData(LogLevel.Warning, "StateChanged,Warning")] // a state change may be event 109, a warning
    [InlineData(LogLevel.None, "")]
    public void The_log_consumes_the_kinds_its_level_writes(LogLevel minimum, string kinds)
    {
        var sink = new LoggingEventSink(new LevelLogger(minimum));
        Assert.Equal(kinds, string.Join(",", Enum.GetValues<TcpEventKind>().Where(sink.Consumes)));
    }

    private sealed class LevelLogger(LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) { }
    }
}
