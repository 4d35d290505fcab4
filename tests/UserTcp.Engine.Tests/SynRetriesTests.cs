using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TCP_SYNCNT on a connection whose SYN is out (<see cref="TcpConnection.SynRetries"/>): the limit is read at each
/// timeout, as Linux's tcp_write_timeout reads icsk_syn_retries (RFC 6298 §5.5 backs the timer off meanwhile).
/// </summary>
public sealed class SynRetriesTests
{
    [Fact]
    public void A_limit_set_after_the_syn_left_ends_the_attempt_at_the_next_timeout_after_it()
    {
        (Harness h, TcpConnection c) = SynSent();
        Assert.Equal(6, c.SynRetries); // TcpConfig's, as tcp_syn_retries
        c.SynRetries = 1;
        Assert.Equal(S(1), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn);
        h.ExpectNothing();
        Assert.Equal(S(3), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        h.ExpectNothing(); // no third SYN, no RST
    }

    [Fact]
    public void A_limit_raised_after_the_syn_left_lets_it_retry_longer()
    {
        (Harness h, TcpConnection c) = SynSent(new TcpConfig { SynRetries = 1 });
        c.SynRetries = 2;
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal(S(3), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal(TcpState.SynSent, c.State);
        Assert.Equal(S(7), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        h.ExpectNothing();
    }
}
