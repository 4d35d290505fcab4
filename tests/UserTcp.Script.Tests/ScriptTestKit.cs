namespace UserTcp.Script.Tests;

/// <summary>What the runner's own tests share: a passive open to start a script from, and running one that must pass or fail.</summary>
internal static class ScriptTestKit
{
    /// <summary>Lines 1-7: a passive open; the connection is fd 4, the peer's window 502 &lt;&lt; 7, our RTO 300 ms.</summary>
    public const string Handshake = """
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    bind(3, ..., ...) = 0
        +0    listen(3, 1) = 0
        +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
        +0    > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 3>
        +.1   < . 1:1(0) ack 1 win 502
        +0    accept(3, ..., ...) = 4

        """;

    public static ScriptResult Run(string text, bool relaxed = false) =>
        ScriptRunner.RunText(text, "test.pkt", new ScriptRunOptions { Relaxed = relaxed });

    /// <summary>Runs a script that must fail; returns its failure.</summary>
    public static ScriptFailure Fails(string text, bool relaxed = false)
    {
        ScriptResult result = Run(text, relaxed);
        Assert.False(result.Passed, "the script passed but should have failed");
        return result.Failure!;
    }

    /// <summary>Runs a script that must pass.</summary>
    public static void Passes(string text, bool relaxed = false)
    {
        ScriptResult result = Run(text, relaxed);
        Assert.True(result.Passed, result.ToString());
    }
}
