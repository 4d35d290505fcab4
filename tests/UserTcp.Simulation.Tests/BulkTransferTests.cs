using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Simulation.Tests;

/// <summary>10 MB each way over one connection, under loss with reordering and duplication, seeded and reproducible.</summary>
public class BulkTransferTests
{
    private const long TenMegabytes = 10 * 1024 * 1024;

    public static TheoryData<double> LossRates => new() { 0.0, 0.01, 0.05, 0.20 };

    [Theory]
    [MemberData(nameof(LossRates))]
    public void Ten_megabytes_each_way_arrive_intact(double loss)
    {
        var faults = new FaultOptions
        {
            DropRate = loss,
            ReorderRate = loss > 0 ? 0.01 : 0,
            DuplicateRate = loss > 0 ? 0.01 : 0,
        };
        // ISNs just below 2^32 so both sequence spaces wrap during the transfer.
        var configA = new TcpConfig { InitialSequenceNumber = _ => 0xFFFF_0000, RandomSeed = 1 };
        var configB = new TcpConfig { InitialSequenceNumber = _ => 0xFFFF_F000, RandomSeed = 2 };
        using var sim = new Simulation(configA, configB, faults, faults, seed: (int)(loss * 1000) + 7, name: $"Bulk_{loss:0.00}");
        TcpPassiveOpen listener = sim.B.Engine.Listen(80);
        TcpConnection clientSide = sim.A.Engine.Connect(new IpEndpoint(Simulation.AddressB, 80));
        var client = new StreamApp(clientSide, TenMegabytes, seed: 11);
        StreamApp? server = null;

        void Applications()
        {
            if (server is null && listener.TryAccept(out TcpConnection accepted)) server = new StreamApp(accepted, TenMegabytes, seed: 22);
            client.Pump();
            server?.Pump();
        }

        sim.RunUntil(() => client.Done && server is { Done: true } || client.Connection.State == TcpState.Closed && !client.Done,
            TimeSpan.FromHours(10), Applications);
        if (!(client.Done && server!.Done))
        {
            File.WriteAllLines($"/tmp/sim-{loss}-A.log", sim.A.Events.Select(e => e.ToString()));
            File.WriteAllLines($"/tmp/sim-{loss}-B.log", sim.B.Events.Select(e => e.ToString()));
        }
        Assert.True(client.Done && server!.Done,
            $"client {client.Connection} {client.Connection.Error} sent {client.Sent} received {client.Received}; server {server?.Connection} {server?.Connection.Error} sent {server?.Sent} received {server?.Received}\n"
            + string.Join("\n", sim.A.Events.Where(e => e.Kind is TcpEventKind.StateChanged or TcpEventKind.ConnectionError).TakeLast(10)));
        Assert.Equal(TenMegabytes, server!.Received);
        Assert.Equal(TenMegabytes, client.Received);
        Assert.Equal(client.SentHash, server.ReceivedHash);
        Assert.Equal(server.SentHash, client.ReceivedHash);

        // Both close; one side passes through TIME-WAIT, and after 2MSL both tables are empty.
        sim.RunUntil(() => sim.A.Engine.Connections.Count == 0 && sim.B.Engine.Connections.Count == 0, sim.Now + TimeSpan.FromMinutes(10), Applications);
        Assert.Equal(TcpError.None, client.Connection.Error);
        Assert.Equal(TcpError.None, server.Connection.Error);
        if (loss == 0)
        {
            Assert.Equal(0, sim.A.Engine.Counters.Retransmissions + sim.B.Engine.Counters.Retransmissions);
        }
        else
        {
            Assert.True(sim.A.Engine.Counters.Retransmissions > 0 && sim.B.Engine.Counters.Retransmissions > 0);
        }
        sim.Pass();
    }
}
