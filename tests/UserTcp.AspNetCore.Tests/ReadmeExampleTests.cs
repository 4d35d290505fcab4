using UserTcp.Sockets;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>The README's HttpClient and ASP.NET Core examples: shown as compiled, and working, one against the other.</summary>
public sealed class ReadmeExampleTests
{
    [Theory]
    [InlineData("aspnetcore")]
    [InlineData("httpclient")]
    public void The_readme_shows_the_example_exactly_as_the_tests_compile_it(string name)
    {
        string example = ReadmeSource.Region(Path.Combine("tests", "UserTcp.AspNetCore.Tests", "ReadmeExamples.cs"), name);

        Assert.Contains(example, ReadmeSource.CSharpBlocks());
    }

    [Fact]
    public async Task The_readme_examples_work_one_against_the_other()
    {
        // The README's addresses: UserTcp at 10.77.0.2 (serving), and a second stack at 10.77.0.1 (fetching).
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        await using NetStack server = NetStack.Start(pipe.A, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.2") });
        await using NetStack client = NetStack.Start(pipe.B, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.1") });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task serving = ReadmeExamples.ServeAsync(server, stop.Token);
        while (!server.SnapshotListeners().Any(l => l.Local.Port == 80))
        {
            Assert.False(serving.IsCompleted, "the app stopped before it listened");
            await Task.Delay(10, stop.Token);
        }

        string hello = await ReadmeExamples.GetAsync(client);
        await stop.CancelAsync();
        await serving;

        Assert.Equal("Hello from Kestrel over UserTcp\n", hello);
    }
}
