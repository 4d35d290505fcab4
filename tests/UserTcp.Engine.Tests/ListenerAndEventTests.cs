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

    [Fact]
    public void Without_syn_cookies_a_full_syn_queue_drops_further_syns_so_the_peer_retries()
    {
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Off }); // with them (the default): Hardening/SynQueueTests.cs
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog: 2);
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
        TcpPassiveOpen listener = h.Engine.Listen(80, backlog: 1);
        Handshake(h, 50001);
        Assert.Equal(1, listener.PendingAccepts);
        Handshake(h, 50002); // its final ACK finds the accept queue full
        Assert.Equal(1, listener.PendingAccepts);
        h.ExpectNothing();
        Assert.Equal(h.Now + TimeSpan.FromSeconds(1), h.AdvanceToNextDeadline());
        Sent again = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        Assert.Equal(50002, again.DestinationPort);

        // Once the application accepts, the retried final ACK gets in.
        Assert.True(listener.TryAccept(out _));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: 50002);
        Assert.True(listener.TryAccept(out TcpConnection second));
        Assert.Equal(50002, second.RemoteEndpoint.Port);
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
    public void Events_fan_out_to_every_sink()
    {
        var first = new EventLog();
        var second = new EventLog();
        var engine = new TcpEngine(Harness.LocalAddress, events: new FanOutEventSink(first, second));
        engine.Connect(new IpEndpoint(Harness.PeerAddress, 9));
        Assert.NotEmpty(first.Events);
        Assert.Equal(first.Events, second.Events);
    }
}
