using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>TcpExt's abort and retransmission counters, each where Linux increments it, and nowhere else.</summary>
public class AbortCounterTests
{
    private static readonly MibCounter[] Aborts = [MibCounter.TcpExtTCPAbortOnData, MibCounter.TcpExtTCPAbortOnClose, MibCounter.TcpExtTCPAbortOnTimeout];

    private static void OnlyAbort(Harness h, MibCounter counter)
    {
        foreach (MibCounter abort in Aborts) Assert.Equal(abort == counter ? 1 : 0, h.Engine.Counters[abort]);
    }

    [Fact]
    public void A_retransmitted_syn_counts_syn_retrans_and_a_timeout()
    {
        (Harness h, _) = SynSent();
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSynRetrans]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPTimeouts]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpRetransSegs]);
    }

    [Fact]
    public void A_close_with_unread_data_counts_abort_on_close()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(0), 502, Bytes(10));
        h.DrainSent();
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Our(0));
        OnlyAbort(h, MibCounter.TcpExtTCPAbortOnClose);
    }

    [Fact]
    public void A_zero_linger_close_counts_abort_on_data_as_linux_does()
    {
        (Harness h, TcpConnection c) = Established();
        c.LingerZero = true;
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Our(0));
        OnlyAbort(h, MibCounter.TcpExtTCPAbortOnData);
    }

    [Fact]
    public void Data_after_close_counts_abort_on_data()
    {
        (Harness h, TcpConnection c) = FinWait2();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(1), 502, Bytes(10));
        Assert.Equal(TcpFlags.Rst, h.Next().Flags & TcpFlags.Rst);
        Assert.Equal(TcpState.Closed, c.State);
        OnlyAbort(h, MibCounter.TcpExtTCPAbortOnData);
    }

    [Fact]
    public void Retransmissions_running_out_count_abort_on_timeout_and_a_clean_close_counts_nothing()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { DataRetries = 2 });
        c.Send(Bytes(100));
        h.Poll();
        for (int i = 0; i < 4 && c.State != TcpState.Closed; i++) h.AdvanceToNextDeadline();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        OnlyAbort(h, MibCounter.TcpExtTCPAbortOnTimeout);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPTimeouts]);

        (Harness clean, _) = TimeWait();
        clean.Advance(clean.Config.TimeWait);
        OnlyAbort(clean, MibCounter.TcpExtTW); // none of the aborts
        Assert.Equal(1, clean.Engine.Counters[MibCounter.TcpExtTW]);
    }

    [Fact]
    public void A_syn_received_that_times_out_is_not_an_abort_as_linux_request_socks_are_not()
    {
        (Harness h, _) = SynReceived(new TcpConfig { SynAckRetries = 1 });
        for (int i = 0; i < 3 && h.Engine.Connections.Count > 0; i++) h.AdvanceToNextDeadline();
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSynRetrans]);
        OnlyAbort(h, MibCounter.TcpExtTW);
    }
}
