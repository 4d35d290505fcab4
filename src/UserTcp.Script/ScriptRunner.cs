namespace UserTcp.Script;

/// <summary>How to run a script.</summary>
public sealed record ScriptRunOptions
{
    /// <summary>
    /// Match outbound packets the way UserTcp legitimately differs from Linux: the window field is not compared and
    /// options are compared as a set of what UserTcp implements (MSS value, window scale present). Also settable in
    /// a script with <c>--relaxed</c>.
    /// </summary>
    public bool Relaxed { get; init; }

    /// <summary>Receives one line per event, packet and engine event as the script runs (<c>--verbose</c>).</summary>
    public Action<string>? Trace { get; init; }

    /// <summary>
    /// Where back-quoted blocks find the shell files they run (<c>`../common/defaults.sh`</c>);
    /// <see cref="ScriptRunner.RunFile"/> uses the script's own directory when this is not set.
    /// </summary>
    public string? SetupDirectory { get; init; }

    /// <summary>
    /// packetdrill's command-line options (<c>--tolerance_usecs=100000</c>, as gVisor runs its scripts): they apply
    /// as if the script began with them, and the script's own option lines come after (and win).
    /// </summary>
    public IReadOnlyList<ScriptOption> CommandLineOptions { get; init; } = [];

    /// <summary>packetdrill's <c>-D SYMBOL=value</c>: words of the script that read as other values (upstream's run_all.py passes some).</summary>
    public IReadOnlyDictionary<string, string>? Defines { get; init; }

    /// <summary>
    /// Test seam: how the stack turns engine errors into the SocketErrors its API reports (see
    /// <c>NetStackOptions.ErrorTranslation</c>), so a test can plant an API bug and watch the corpus catch it.
    /// </summary>
    internal Func<UserTcp.Engine.TcpError, System.Net.Sockets.SocketError>? ErrorTranslation { get; init; }
}

/// <summary>Why a script failed: the line (0 when none applies) and what was expected against what happened.</summary>
public sealed record ScriptFailure(int Line, string Message)
{
    /// <summary>The script could not be read (a syntax error, or grammar the runner does not know): nothing ran.</summary>
    public bool Unreadable { get; init; }

    public override string ToString() => (Line > 0 ? $"line {Line}: " : "") + (Unreadable ? "cannot read the script: " : "") + Message;
}

/// <summary>The outcome of a run.</summary>
public sealed record ScriptResult(string Name, ScriptFailure? Failure, IReadOnlyList<string> Notices, long EndTime)
{
    public bool Passed => Failure is null;

    /// <summary>Script time when the run ended, in seconds.</summary>
    public double EndSeconds => EndTime / 1e6;

    /// <summary>UserTcp's counters at the end of a run that passed, by nstat's names (EngineCounters.Snapshot), for tests to compare with what linux-check --nstat says Linux counted.</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();

    public override string ToString() => Passed
        ? $"{Name}: pass ({EventTime.Seconds(EndTime)} s of script time)"
        : $"{Name}: {Failure}";
}

/// <summary>Runs packetdrill-style scripts against a fresh UserTcp engine on a manual clock.</summary>
public static class ScriptRunner
{
    public static ScriptResult RunFile(string path, ScriptRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ScriptRunOptions();
        if (options.SetupDirectory is null) options = options with { SetupDirectory = Path.GetDirectoryName(Path.GetFullPath(path)) };
        return RunText(File.ReadAllText(path), path, options);
    }

    /// <summary>Parses and runs; a parse error is a failure at its line, like a failed expectation.</summary>
    public static ScriptResult RunText(string text, string name, ScriptRunOptions? options = null)
    {
        PacketScript script;
        try
        {
            script = ScriptParser.Parse(text, name, options?.Defines);
        }
        catch (ScriptParseException exception)
        {
            return new ScriptResult(name, new ScriptFailure(exception.Line, exception.Message) { Unreadable = true }, [], 0);
        }
        return Run(script, options);
    }

    public static ScriptResult Run(PacketScript script, ScriptRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(script);
        using var execution = new ScriptExecution(script, options ?? new ScriptRunOptions());
        return execution.Run();
    }
}

/// <summary>The test-suite hook: every <c>*.pkt</c> under a folder, for xunit theories.</summary>
public static class ScriptCorpus
{
    /// <summary>Paths relative to <paramref name="folder"/>, with '/' separators, sorted.</summary>
    public static IEnumerable<string> Find(string folder) =>
        Directory.EnumerateFiles(folder, "*.pkt", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(folder, path).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
}

/// <summary>A failure at a line, thrown inside the runner and turned into a <see cref="ScriptFailure"/>.</summary>
internal sealed class ScriptFailureException : Exception
{
    public ScriptFailureException(int line, string message) : base(message) => Line = line;

    public ScriptFailureException() { }

    public ScriptFailureException(string message) : base(message) { }

    public ScriptFailureException(string message, Exception innerException) : base(message, innerException) { }

    public int Line { get; }
}
