namespace UserTcp.Script.Tests;

/// <summary>Every script under tests/scripts (copied beside the tests) is a theory case; each must pass.</summary>
public class CorpusTests
{
    public static string ScriptsFolder => Path.Combine(AppContext.BaseDirectory, "scripts");

    private static readonly string[] Areas = ["handshake", "close", "shutdown", "rst", "retransmission", "persist", "keepalive", "delayed-ack", "data", "sockopt", "tcp-info", "sack", "timestamps", "engine-fixes", "congestion", "events", "ecn", "fastopen", "mtu"];

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (string script in ScriptCorpus.Find(ScriptsFolder)) data.Add(script);
        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_passes(string script)
    {
        ScriptResult result = ScriptRunner.RunFile(Path.Combine(ScriptsFolder, script));
        Assert.True(result.Passed, $"{script}: {result.Failure}");
    }

    [Fact]
    public void Corpus_has_at_least_40_scripts_and_covers_every_area()
    {
        List<string> scripts = [.. ScriptCorpus.Find(ScriptsFolder)];
        Assert.True(scripts.Count >= 40, $"only {scripts.Count} scripts");
        foreach (string area in Areas) Assert.Contains(scripts, s => s.StartsWith(area + "/", StringComparison.Ordinal));
        Assert.All(scripts, s => Assert.Contains(s[..s.IndexOf('/', StringComparison.Ordinal)], Areas));
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_starts_with_a_header_saying_what_it_pins_down_and_the_rfc_section(string script)
    {
        string[] header = File.ReadLines(Path.Combine(ScriptsFolder, script)).TakeWhile(l => l.StartsWith("//", StringComparison.Ordinal)).ToArray();
        Assert.True(header.Length >= 3, $"{script}: the header comment is missing or too short");
        Assert.Contains(header, l => l.Contains("Pins down:", StringComparison.Ordinal));
        Assert.Contains(header, l => l.Contains("RFC ", StringComparison.Ordinal) && l.Contains('§', StringComparison.Ordinal));
    }

    [Fact]
    public void The_corpus_covers_hours_of_tcp_time_on_the_manual_clock()
    {
        // Keepalive, TIME-WAIT and retransmission timeouts take hours of script time; the clock jumps to each
        // engine deadline, so no test sleeps (and, as docs/design.md "Tests" says, none asserts wall-clock speed).
        double scriptSeconds = ScriptCorpus.Find(ScriptsFolder).Sum(s => ScriptRunner.RunFile(Path.Combine(ScriptsFolder, s)).EndSeconds);
        Assert.True(scriptSeconds > 3600, $"the corpus covers only {scriptSeconds} s of script time");
    }
}
