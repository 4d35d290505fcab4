using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Script.Tests;

/// <summary>
/// The corpus runs through UserTcp.Sockets, so it catches bugs in the socket API, not only in the engine: here a
/// deliberately wrong error translation is planted in the API (through its test seam) and the scripts that meet it fail.
/// </summary>
public class SocketApiBugTests
{
    [Fact]
    public void A_reset_reported_as_the_wrong_socket_error_fails_exactly_the_scripts_that_expect_econnreset()
    {
        // The planted bug: the API says ConnectionAborted where the engine reports a reset.
        var buggy = new ScriptRunOptions
        {
            ErrorTranslation = error => error == TcpError.ConnectionReset ? SocketError.ConnectionAborted : SocketErrors.ToSocketError(error),
        };
        List<string> scripts = [.. ScriptCorpus.Find(CorpusTests.ScriptsFolder)];
        List<string> expectReset = [.. scripts.Where(s => File.ReadAllText(Path.Combine(CorpusTests.ScriptsFolder, s)).Contains("ECONNRESET", StringComparison.Ordinal))];
        Assert.NotEmpty(expectReset);

        var failures = new Dictionary<string, ScriptFailure>();
        foreach (string script in scripts)
        {
            ScriptResult result = ScriptRunner.RunFile(Path.Combine(CorpusTests.ScriptsFolder, script), buggy);
            if (result.Failure is { } failure) failures[script] = failure;
        }

        Assert.Equal(expectReset, failures.Keys.Order(StringComparer.Ordinal));
        Assert.All(failures.Values, f => Assert.Contains("ECONNABORTED", f.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void The_same_scripts_pass_with_the_api_as_it_is()
    {
        foreach (string script in ScriptCorpus.Find(CorpusTests.ScriptsFolder).Where(s => s.StartsWith("rst/", StringComparison.Ordinal)))
        {
            ScriptResult result = ScriptRunner.RunFile(Path.Combine(CorpusTests.ScriptsFolder, script));
            Assert.True(result.Passed, $"{script}: {result.Failure}");
        }
    }
}
