using System.Globalization;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Script;

/// <summary>
/// The <c>tcpi_*</c> fields UserTcp's engine can answer today, in Linux's units (segments for the congestion window,
/// microseconds for times). The others parse (<see cref="TcpInfoField"/>) and fail when a block reads them.
/// </summary>
internal static class TcpInfo
{
    public static long LinuxState(TcpState state) => state switch
    {
        TcpState.Established => 1,
        TcpState.SynSent => 2,
        TcpState.SynReceived => 3,
        TcpState.FinWait1 => 4,
        TcpState.FinWait2 => 5,
        TcpState.TimeWait => 6,
        TcpState.Closed => 7,
        TcpState.CloseWait => 8,
        TcpState.LastAck => 9,
        TcpState.Listen => 10,
        TcpState.Closing => 11,
        _ => -1,
    };

    /// <summary>The fields <see cref="Value"/> answers, for messages.</summary>
    public static readonly TcpInfoField[] Answered =
    [
        TcpInfoField.State, TcpInfoField.CaState, TcpInfoField.Retransmits, TcpInfoField.Probes, TcpInfoField.Backoff, TcpInfoField.Options,
        TcpInfoField.SndWscale, TcpInfoField.RcvWscale, TcpInfoField.Rto, TcpInfoField.Ato, TcpInfoField.SndMss, TcpInfoField.RcvMss,
        TcpInfoField.Unacked, TcpInfoField.Sacked, TcpInfoField.Lost, TcpInfoField.Retrans, TcpInfoField.LastDataRecv, TcpInfoField.Rtt,
        TcpInfoField.Rttvar, TcpInfoField.SndSsthresh, TcpInfoField.SndCwnd, TcpInfoField.Advmss, TcpInfoField.Reordering, TcpInfoField.ReordSeen,
        TcpInfoField.TotalRetrans, TcpInfoField.MinRtt, TcpInfoField.NotsentBytes, TcpInfoField.SndWnd, TcpInfoField.RcvWnd, TcpInfoField.TotalRto,
        TcpInfoField.RcvSpace, TcpInfoField.RcvRtt, TcpInfoField.PacingRate, TcpInfoField.RcvSsthresh,
        TcpInfoField.BusyTime, TcpInfoField.RwndLimited, TcpInfoField.SndbufLimited, TcpInfoField.Delivered, TcpInfoField.DeliveredCe,
    ];

    /// <summary>
    /// The value of a field for a connection (null: no connection; <paramref name="listening"/> answers tcpi_state
    /// then), from the engine's <see cref="TcpConnectionInfo"/>. Throws <see cref="InvalidOperationException"/> for a
    /// field UserTcp does not track.
    /// </summary>
    public static long Value(TcpInfoField field, ConnectionSnapshot? connection, bool listening)
    {
        if (field == TcpInfoField.State)
        {
            return connection is null ? (listening ? 10 : 7) : LinuxState(connection.State);
        }
        string name = TcpInfoNames.Name(field);
        if (!Answered.Contains(field))
        {
            throw new InvalidOperationException($"{name} is not available: UserTcp answers {string.Join(", ", Answered.Select(TcpInfoNames.Name))}");
        }
        if (connection is null) throw new InvalidOperationException($"{name} needs a connection, and the script has none yet");
        // A connection that has left the table keeps its last row; its info is all zeros then, as Linux's for a closed socket.
        TcpConnectionInfo info = connection.Info ?? new TcpConnectionInfo { State = connection.State, SlowStartThreshold = int.MaxValue };
        int mss = Math.Max(1, info.SendMss);
        return field switch
        {
            TcpInfoField.CaState => (long)info.CongestionState,
            TcpInfoField.Retransmits => info.ConsecutiveTimeouts,
            TcpInfoField.Probes => info.Probes,
            TcpInfoField.Backoff => info.Backoff,
            TcpInfoField.Options => (info.Timestamps ? 1 : 0) | (info.Sack ? 2 : 0) | (info.WindowScale is null ? 0 : 4) | (info.Ecn ? 8 : 0) | (info.EcnSeen ? 16 : 0)
                | (info.FastOpenSynData ? 32 : 0) | (info.FastOpenChild ? 128 : 0),
            TcpInfoField.SndWscale => info.WindowScale?.Send ?? 0,
            TcpInfoField.RcvWscale => info.WindowScale?.Receive ?? 0,
            TcpInfoField.Rto => Micros(info.Rto),
            TcpInfoField.Ato => Micros(info.AckTimeout),
            TcpInfoField.SndMss => info.SegmentMss, // Linux's mss_cache, cut to half the peer's largest window
            TcpInfoField.RcvMss => info.ReceiveMss,
            TcpInfoField.Unacked => info.UnackedSegments,
            TcpInfoField.Sacked => info.SackedSegments,
            TcpInfoField.Lost => info.LostSegments,
            TcpInfoField.Retrans => info.RetransmittedSegments,
            TcpInfoField.LastDataRecv => (long)info.SinceDataReceived.TotalMilliseconds,
            TcpInfoField.Rtt => Micros(info.SmoothedRtt),
            TcpInfoField.Rttvar => Micros(info.RttVariance),
            TcpInfoField.MinRtt => Micros(info.MinRtt),
            // Linux counts cwnd in segments, and reports TCP_INFINITE_SSTHRESH (0x7fffffff) until the first loss.
            TcpInfoField.SndCwnd => info.CongestionWindow / mss,
            TcpInfoField.SndSsthresh => info.SlowStartThreshold == int.MaxValue ? int.MaxValue : info.SlowStartThreshold / mss,
            TcpInfoField.Advmss => info.AdvertisedMss,
            TcpInfoField.Reordering => info.Reordering,
            TcpInfoField.ReordSeen => info.ReorderingEvents,
            TcpInfoField.TotalRetrans => info.TotalRetransmissions,
            TcpInfoField.NotsentBytes => info.NotSentBytes,
            TcpInfoField.SndWnd => info.SendWindow,
            TcpInfoField.RcvWnd => info.ReceiveWindow,
            TcpInfoField.RcvSpace => info.ReceiveSpace,
            TcpInfoField.RcvSsthresh => info.ReceiveSlowStartThreshold
                ?? throw new InvalidOperationException("tcpi_rcv_ssthresh is tracked only with Linux's receive window (--receive_window=linux, or --relaxed)"),
            TcpInfoField.RcvRtt => Micros(info.ReceiveRtt),
            // Linux's u64 reads ~0 while unbounded; a long holds at most long.MaxValue.
            TcpInfoField.PacingRate => (long)Math.Min(info.PacingRate, long.MaxValue),
            TcpInfoField.BusyTime => Micros(info.BusyTime),
            TcpInfoField.RwndLimited => Micros(info.ReceiveWindowLimitedTime),
            TcpInfoField.SndbufLimited => Micros(info.SendBufferLimitedTime),
            TcpInfoField.Delivered => info.DeliveredSegments,
            TcpInfoField.DeliveredCe => info.DeliveredCeSegments,
            _ => info.TotalTimeouts, // TotalRto
        };
    }

    private static long Micros(TimeSpan span) => (long)span.TotalMicroseconds;
}

/// <summary>Why a code block failed: the statement's line and what went wrong.</summary>
internal sealed class CodeBlockException(int line, string message) : Exception(message)
{
    public int Line { get; } = line;
}

/// <summary>
/// Runs code-block statements in order, as packetdrill's Python would: variables persist across blocks, an assert
/// that does not hold fails naming the fields it read and their values, print goes to the trace.
/// </summary>
internal sealed class CodeEvaluator(Func<TcpInfoField, long> field, Action<string>? print)
{
    private readonly Dictionary<string, long> _variables = new(StringComparer.Ordinal);

    public void Run(IEnumerable<CodeStatement> statements, string when)
    {
        foreach (CodeStatement statement in statements)
        {
            switch (statement)
            {
                case Assertion assertion:
                    if (Evaluate(assertion.Condition, assertion.Line) == 0)
                    {
                        var values = Fields(assertion.Condition).Distinct()
                            .Select(f => f == TcpInfoField.State
                                ? $"tcpi_state is {TcpInfoNames.StateName(Read(f, assertion.Line))}"
                                : $"{TcpInfoNames.Name(f)} is {Read(f, assertion.Line)}")
                            .Concat(Variables(assertion.Condition).Distinct().Select(v => $"{v} is {_variables[v]}"));
                        throw new CodeBlockException(assertion.Line, $"assertion `{assertion.Text}` failed {when}: {string.Join(", ", values)}");
                    }
                    print?.Invoke($"line {assertion.Line}: assert {assertion.Text}: true");
                    break;
                case AssignStatement assign:
                {
                    long value = Evaluate(assign.Value, assign.Line);
                    if (assign.Operator != "=")
                    {
                        long current = _variables.TryGetValue(assign.Variable, out long v) ? v
                            : TcpInfoNames.TryConstant(assign.Variable, out long c) ? c
                            : throw new CodeBlockException(assign.Line, $"name '{assign.Variable}' is not defined");
                        value = assign.Operator == "+=" ? current + value : current - value;
                    }
                    _variables[assign.Variable] = value;
                    break;
                }
                case PrintStatement p:
                    string text = string.Join(" ", p.Values.Select(v => Text(v, p.Line)));
                    print?.Invoke($"line {p.Line}: print: {text}");
                    break;
            }
        }
    }

    private long Read(TcpInfoField f, int line)
    {
        try
        {
            return field(f);
        }
        catch (InvalidOperationException exception)
        {
            throw new CodeBlockException(line, exception.Message);
        }
    }

    public long Evaluate(AssertExpr expr, int line) => expr switch
    {
        NumberExpr n => n.Value,
        ConstantExpr c => c.Value,
        FieldExpr f => Read(f.Field, line),
        VariableExpr v => _variables.TryGetValue(v.Name, out long value) ? value : throw new CodeBlockException(line, $"name '{v.Name}' is not defined"),
        UnaryExpr { Op: "not" } u => Evaluate(u.Operand, line) == 0 ? 1 : 0,
        UnaryExpr { Op: "~" } u => ~Evaluate(u.Operand, line),
        UnaryExpr u => -Evaluate(u.Operand, line),
        BinaryExpr { Op: "and" } b => Evaluate(b.Left, line) != 0 && Evaluate(b.Right, line) != 0 ? 1 : 0,
        BinaryExpr { Op: "or" } b => Evaluate(b.Left, line) != 0 || Evaluate(b.Right, line) != 0 ? 1 : 0,
        BinaryExpr b => Arithmetic(b.Op, Evaluate(b.Left, line), Evaluate(b.Right, line), line),
        CompareExpr c => Chain(c, line) ? 1 : 0,
        _ => throw new CodeBlockException(line, $"`{expr}` is not a number"),
    };

    private static long Arithmetic(string op, long left, long right, int line) => op switch
    {
        "+" => left + right,
        "-" => left - right,
        "*" => left * right,
        "//" when right == 0 => throw new CodeBlockException(line, "integer division by zero"),
        "//" => (long)Math.Floor((double)left / right),
        "%" when right == 0 => throw new CodeBlockException(line, "integer modulo by zero"),
        "%" => ((left % right) + right) % right,
        "&" => left & right,
        "|" => left | right,
        "^" => left ^ right,
        "<<" => left << (int)right,
        _ => left >> (int)right,
    };

    private bool Chain(CompareExpr c, int line)
    {
        long left = Evaluate(c.Operands[0], line);
        for (int i = 0; i < c.Ops.Count; i++)
        {
            long right = Evaluate(c.Operands[i + 1], line);
            bool holds = c.Ops[i] switch
            {
                "==" => left == right,
                "!=" => left != right,
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                _ => left >= right,
            };
            if (!holds) return false;
            left = right;
        }
        return true;
    }

    /// <summary>A print argument as Python would print it: numbers, strings, and <c>'fmt' % args</c> with %d, %u, %s, %x.</summary>
    private string Text(AssertExpr expr, int line)
    {
        if (expr is StringExpr s) return s.Value;
        if (expr is BinaryExpr { Op: "%", Left: StringExpr format } b)
        {
            var args = new Queue<string>((b.Right is TupleExpr t ? t.Items : [b.Right]).Select(a => Text(a, line)));
            var result = new System.Text.StringBuilder();
            for (int i = 0; i < format.Value.Length; i++)
            {
                if (format.Value[i] == '%' && i + 1 < format.Value.Length && "dusx%".Contains(format.Value[i + 1], StringComparison.Ordinal))
                {
                    char kind = format.Value[++i];
                    string arg = kind == '%' ? "%" : args.Count > 0 ? args.Dequeue() : "";
                    result.Append(kind == 'x' && long.TryParse(arg, CultureInfo.InvariantCulture, out long n) ? n.ToString("x", CultureInfo.InvariantCulture) : arg);
                }
                else
                {
                    result.Append(format.Value[i]);
                }
            }
            return result.ToString();
        }
        if (expr is TupleExpr tuple) return "(" + string.Join(", ", tuple.Items.Select(i => Text(i, line))) + ")";
        return Evaluate(expr, line).ToString(CultureInfo.InvariantCulture);
    }

    private static IEnumerable<TcpInfoField> Fields(AssertExpr expr) => Leaves(expr).OfType<FieldExpr>().Select(f => f.Field);

    private static IEnumerable<string> Variables(AssertExpr expr) => Leaves(expr).OfType<VariableExpr>().Select(v => v.Name);

    /// <summary>The names and numbers an expression is made of, left to right.</summary>
    private static IEnumerable<AssertExpr> Leaves(AssertExpr expr) => expr switch
    {
        UnaryExpr u => Leaves(u.Operand),
        BinaryExpr b => Leaves(b.Left).Concat(Leaves(b.Right)),
        CompareExpr c => c.Operands.SelectMany(Leaves),
        TupleExpr t => t.Items.SelectMany(Leaves),
        _ => [expr],
    };
}
