using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The opt-in CLOSE-WAIT timeout (TcpConfig.CloseWaitTimeout): a connection the peer has closed, which the application
/// neither closes nor writes to for that long, is closed for it — exactly one FIN at exactly the deadline, nothing else.
/// </summary>
public class CloseWaitTimeoutTests
{
    private static readonly TcpConfig Opted = new() { CloseWaitTimeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public void Close_wait_left_idle_is_closed_with_a_fin_at_the_timeout()
    {
        (Harness h, TcpConnection c) = CloseWait(Opted); // the peer's FIN at t = 0, its ACK sent at 40 ms
        Assert.Equal(Ms(5000), c.TimerDeadline(TcpTimer.CloseWait));

        Assert.Equal(Ms(5000), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(TcpState.LastAck, c.State);
        TcpEvent closed = Assert.Single(h.Log.Of(TcpEventKind.StateChanged), e => e.NewState == TcpState.LastAck);
        Assert.Equal((TcpState.CloseWait, TcpCause.CloseWaitIdle, Ms(5000)), (closed.OldState, closed.Cause, closed.Time));
        Assert.Equal(CauseOrigin.Timer, closed.Cause.Origin());

        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void A_write_in_close_wait_restarts_the_idle_time()
    {
        (Harness h, TcpConnection c) = CloseWait(Opted);
        h.AdvanceTo(Ms(3000));
        Assert.Equal(10, c.Send(Bytes(10)));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, PeerIsn + 2, payloadLength: 10);
        Assert.Equal(Ms(8000), c.TimerDeadline(TcpTimer.CloseWait));
        h.AdvanceTo(Ms(3010));
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 11, window: PeerWindow);

        h.AdvanceTo(Ms(5000));
        h.ExpectNothing(); // the old deadline passes without a FIN
        Assert.Equal(Ms(8000), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 11, PeerIsn + 2);
        h.ExpectNothing();
    }

    [Fact]
    public void The_applications_own_close_cancels_the_idle_timer()
    {
        (Harness h, TcpConnection c) = CloseWait(Opted);
        h.AdvanceTo(Ms(1000));
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);
        Assert.Null(c.TimerDeadline(TcpTimer.CloseWait));
        Assert.Equal(TcpCause.Close, h.Log.Of(TcpEventKind.StateChanged).Last().Cause);
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Null(h.Engine.PollAt);
        h.ExpectNothing();
    }

    [Fact]
    public void Unread_data_makes_the_timeouts_close_a_reset_as_the_applications_would()
    {
        (Harness h, TcpConnection c) = Established(Opted);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, Isn + 1, window: PeerWindow, payload: Bytes(20));
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 21, Isn + 1, window: PeerWindow);
        Assert.Equal(TcpState.CloseWait, c.State);
        h.AdvanceTo(Ms(40));
        h.DrainSent(); // the ACKs of the data and the FIN

        Assert.Equal(Ms(5000), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1);
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpCause.CloseWaitIdle, h.Log.Of(TcpEventKind.StateChanged).Last().Cause);
    }

    [Fact]
    public void Without_the_option_close_wait_has_no_timer_at_all()
    {
        (Harness h, TcpConnection c) = CloseWait();
        Assert.Null(c.TimerDeadline(TcpTimer.CloseWait));
        Assert.Null(h.Engine.PollAt);
        Assert.DoesNotContain(h.Log.Of(TcpEventKind.TimerSet), e => e.Timer == TcpTimer.CloseWait);
    }

    [Fact]
    public void The_timeout_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpConfig { CloseWaitTimeout = TimeSpan.Zero });
    }
}

/// <summary>The CLOSE-WAIT timeout's warning: the log says the application may be leaking connections (event 109).</summary>
public class CloseWaitTimeoutLogTests
{
    private sealed class Captured : Microsoft.Extensions.Logging.ILogger
    {
        public List<(Microsoft.Extensions.Logging.LogLevel Level, int Id, string Text)> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => Entries.Add((logLevel, eventId.Id, formatter(state, exception)));
    }

    [Fact]
    public void Closing_an_idle_close_wait_logs_one_warning()
    {
        var log = new Captured();
        var sink = new LoggingEventSink(log);
        sink.OnEvent(new TcpEvent(TimeSpan.FromSeconds(5), TcpEventKind.StateChanged, Harness.Id, TcpState.CloseWait, TcpState.LastAck, TcpCause.CloseWaitIdle));
        sink.OnEvent(new TcpEvent(TimeSpan.FromSeconds(6), TcpEventKind.StateChanged, Harness.Id, TcpState.CloseWait, TcpState.LastAck, TcpCause.Close));

        var warning = Assert.Single(log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Equal(109, warning.Id);
        Assert.Contains("CLOSE-WAIT", warning.Text, StringComparison.Ordinal);
    }
}
