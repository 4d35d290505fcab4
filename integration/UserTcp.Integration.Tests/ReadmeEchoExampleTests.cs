using UserTcp.Lab;
using UserTcp.Testing;

namespace UserTcp.Integration.Tests;

/// <summary>The README's echo server: shown exactly as compiled, and answering the kernel's nc as the README says.</summary>
public sealed class ReadmeEchoExampleTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public void The_readme_shows_the_echo_example_exactly_as_the_tests_compile_it()
    {
        string source = Path.Combine("integration", "UserTcp.Integration.Tests", "ReadmeEchoExample.cs");
        string example = ReadmeSource.Region(source, "echo");
        string[] sourceLines = File.ReadAllLines(Path.Combine(ReadmeSource.RepositoryRoot(), source));

        // The README's block is the region after the using directives it needs, which the compiled file has too.
        string block = Assert.Single(ReadmeSource.CSharpBlocks(), b => b.EndsWith(example, StringComparison.Ordinal));
        string[] usings = [.. block[..^example.Length].Split('\n').Where(l => l.Length > 0)];
        Assert.NotEmpty(usings);
        Assert.All(usings, u => Assert.Contains(u, sourceLines));
    }

    [RequiresNetAdminFact("nc")]
    public async Task The_readme_echo_server_answers_nc_and_ends_when_its_device_goes()
    {
        using NetNamespace ns = NetNamespace.Create();
        // The example opens its TUN device in the thread that starts it; that thread is in the test's namespace until the
        // example's first await (the accept), and the device stays there.
        Task serving = ns.Scratch.Invoke(ReadmeEchoExample.RunAsync);

        // The README's own command, twice: one connection after the other, each echoed and closed after nc's FIN.
        for (int i = 0; i < 2; i++)
        {
            PeerProgram nc = ns.Run(PeerTimeout, "bash", "-c", "echo hi | nc -N -w 10 10.77.0.2 7");
            Assert.True(nc.ExitCode == 0, nc.Transcript);
            Assert.Equal(["hi"], nc.OutputLines);
        }
        Assert.False(serving.IsCompleted, $"the example stopped serving: {serving.Exception?.GetBaseException().Message}");

        // Its loop has no exit of its own: it ends when accepting fails, here because the interface is gone.
        PeerProgram delete = ns.Ip("link", "del", "utcp0");
        Assert.True(delete.ExitCode == 0, delete.Transcript);
        Task ended = await Task.WhenAny(serving, Task.Delay(PeerTimeout));
        Assert.Same(serving, ended);
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(() => serving);
        Assert.IsType<IOException>(failure, exactMatch: false);
    }
}
