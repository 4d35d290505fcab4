using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// The runtime asks the device before it queues each segment (<see cref="IPacketDevice.RefusesTransmit"/>) and tells the
/// engine of a refusal at once, as Linux's qdisc answers NET_XMIT_DROP: the live fault injector's <c>refuse</c> rule
/// plays a full local queue, and the data arrives once the probe timer's retry gets through.
/// </summary>
public class LocalQueueRefusalTests
{
    [Fact]
    public async Task Data_a_full_local_queue_refuses_arrives_when_the_probe_timer_retries()
    {
        FaultInjectingDevice? faulty = null;
        await using var net = new PumpedPair(wrapServerDevice: device => faulty = new FaultInjectingDevice(device, [FaultRule.Parse("refuse data nth=1..3")], 1));
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        byte[] buffer = new byte[200];
        ValueTask<int> read = client.ReadAsync(buffer);
        TimeSpan start = net.Server.Now;
        await server.WriteAsync(new byte[100]);
        net.Pump();
        Assert.False(read.IsCompleted); // refused: nothing left
        Assert.Equal(0, server.Info().UnackedSegments);

        net.RunUntil(() => read.IsCompleted, TimeSpan.FromSeconds(10));
        Assert.Equal(100, await read);
        // Refused at the write, then by the probe timer's first retry one RTO later (200 ms) and its second 500 ms after
        // that; the third retry, another 500 ms on, gets through.
        Assert.Equal(TimeSpan.FromMilliseconds(1200), net.Server.Now - start);
        Assert.Equal(3, faulty!.Counters.Refused);
        Assert.Equal(3, net.Server.Counters[MibCounter.UserTcpTransmitRefused]);
        Assert.Equal(0, server.Info().TotalRetransmissions); // new data refused is no retransmission
    }
}
