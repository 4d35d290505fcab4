using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// TCP_INFO's chronograph to the microsecond (tcpi_busy_time, tcpi_rwnd_limited): tcp-info/rwnd-limited-and-busy-time.pkt's
/// scenario, whose script checks two values within one of Linux's jiffies.
/// </summary>
public class ChronographTests
{
    [Fact]
    public void Busy_and_receive_window_limited_times_are_exact()
    {
        (Harness h, TcpConnection c) = Established();
        TimeSpan t0 = h.Now;
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // the peer's window closes
        (TimeSpan Rwnd, TimeSpan Busy) Clocks() => (c.Info().ReceiveWindowLimitedTime, c.Info().BusyTime);
        Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), Clocks());

        c.Send(Bytes(1000));
        h.Poll();
        h.ExpectNothing();
        h.AdvanceTo(t0 + Ms(100));
        Assert.Equal((Ms(100), Ms(100)), Clocks());
        h.AdvanceTo(t0 + Ms(150));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 16); // 2048 bytes: the data goes
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 1000);
        Assert.Equal((Ms(150), Ms(150)), Clocks());
        h.AdvanceTo(t0 + Ms(180));
        h.Send(TcpFlags.Ack, Their(0), Our(1000), window: 0); // acknowledged, and closed again
        Assert.Equal((Ms(150), Ms(180)), Clocks());
        h.AdvanceTo(t0 + Ms(230));
        Assert.Equal((Ms(150), Ms(180)), Clocks()); // nothing queued: neither clock runs

        c.Send(Bytes(1000));
        h.Poll();
        h.ExpectNothing();
        h.AdvanceTo(t0 + Ms(330));
        h.Send(TcpFlags.Ack, Their(0), Our(1000), window: 16);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1000), Their(0), 1000);
        Assert.Equal((Ms(250), Ms(280)), Clocks());
        h.AdvanceTo(t0 + Ms(350));
        h.Send(TcpFlags.Ack, Their(0), Our(2000), window: 16);
        h.AdvanceTo(t0 + Ms(1350));
        Assert.Equal((Ms(250), Ms(300)), Clocks());
    }
}
