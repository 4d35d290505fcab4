using System.Globalization;
using UserTcp.Engine;

namespace UserTcp.Script;

/// <summary>
/// One <c>assert</c> statement of a <c>%{ }%</c> block. packetdrill runs these blocks in Python after the script, on
/// TCP_INFO snapshots taken at the block's time; UserTcp evaluates the same Python subset at that time directly:
/// integers, <c>tcpi_*</c> fields, <c>TCP_*</c> state names, comparisons (chains too), <c>and</c>, <c>or</c>,
/// <c>not</c>, <c>+ - *</c> and parentheses, with an optional <c>, message</c>.
/// </summary>
public sealed record Assertion(int Line, string Text, AssertExpr Condition)
{
    public override string ToString() => "assert " + Text;
}

/// <summary>An expression inside an assertion.</summary>
public abstract record AssertExpr;

internal sealed record NumberExpr(long Value) : AssertExpr
{
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

internal sealed record NameExpr(string Name) : AssertExpr
{
    public override string ToString() => Name;
}

internal sealed record UnaryExpr(string Op, AssertExpr Operand) : AssertExpr
{
    public override string ToString() => Op == "not" ? $"not {Operand}" : $"{Op}{Operand}";
}

internal sealed record BinaryExpr(string Op, AssertExpr Left, AssertExpr Right) : AssertExpr
{
    public override string ToString() => $"{Left} {Op} {Right}";
}

/// <summary>A Python comparison chain: <c>a &lt; b &lt;= c</c> means <c>a &lt; b and b &lt;= c</c>.</summary>
internal sealed record CompareExpr(IReadOnlyList<AssertExpr> Operands, IReadOnlyList<string> Ops) : AssertExpr
{
    public override string ToString()
    {
        var text = new System.Text.StringBuilder(Operands[0].ToString());
        for (int i = 0; i < Ops.Count; i++) text.Append(' ').Append(Ops[i]).Append(' ').Append(Operands[i + 1]);
        return text.ToString();
    }
}

/// <summary>Parses the text of a <c>%{ }%</c> block into assertions, failing on anything that is not one.</summary>
internal static class AssertionParser
{
    public static List<Assertion> Parse(string code, int firstLine)
    {
        var assertions = new List<Assertion>();
        string[] lines = code.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int line = firstLine + i;
            foreach (string part in lines[i].Split(';'))
            {
                string statement = part.Trim();
                if (statement.Length == 0 || statement.StartsWith('#')) continue;
                if (!statement.StartsWith("assert ", StringComparison.Ordinal) && statement != "assert")
                {
                    throw new ScriptParseException(line, $"only `assert` statements are supported in %{{ }}% blocks, not `{statement}`");
                }
                string body = statement["assert".Length..].Trim();
                var tokens = Tokenize(body, line);
                int at = 0;
                AssertExpr condition = Or(tokens, ref at, line);
                if (at < tokens.Count && tokens[at] == ",")
                {
                    at = tokens.Count; // Python's assert message: not evaluated, the runner prints its own
                }
                if (at != tokens.Count) throw new ScriptParseException(line, $"unexpected `{tokens[at]}` in `assert {body}`");
                int comma = body.IndexOf(',', StringComparison.Ordinal);
                assertions.Add(new Assertion(line, comma < 0 ? body : body[..comma].Trim(), condition));
            }
        }
        if (assertions.Count == 0) throw new ScriptParseException(firstLine, "a %{ }% block needs at least one `assert` statement");
        return assertions;
    }

    private static List<string> Tokenize(string text, int line)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (char.IsAsciiLetterOrDigit(c) || c == '_')
            {
                int end = i;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) end++;
                tokens.Add(text[i..end]);
                i = end;
                continue;
            }
            if (c is '\'' or '"')
            {
                int end = text.IndexOf(c, i + 1);
                if (end < 0) throw new ScriptParseException(line, "string in assert is not closed");
                tokens.Add(text[i..(end + 1)]);
                i = end + 1;
                continue;
            }
            string two = i + 1 < text.Length ? text.Substring(i, 2) : "";
            if (two is "==" or "!=" or "<=" or ">=")
            {
                tokens.Add(two);
                i += 2;
                continue;
            }
            if ("<>+-*(),".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(c.ToString());
                i++;
                continue;
            }
            throw new ScriptParseException(line, $"unexpected character '{c}' in assert");
        }
        return tokens;
    }

    private static AssertExpr Or(List<string> t, ref int at, int line)
    {
        AssertExpr left = And(t, ref at, line);
        while (at < t.Count && t[at] == "or")
        {
            at++;
            left = new BinaryExpr("or", left, And(t, ref at, line));
        }
        return left;
    }

    private static AssertExpr And(List<string> t, ref int at, int line)
    {
        AssertExpr left = Not(t, ref at, line);
        while (at < t.Count && t[at] == "and")
        {
            at++;
            left = new BinaryExpr("and", left, Not(t, ref at, line));
        }
        return left;
    }

    private static AssertExpr Not(List<string> t, ref int at, int line)
    {
        if (at < t.Count && t[at] == "not")
        {
            at++;
            return new UnaryExpr("not", Not(t, ref at, line));
        }
        return Compare(t, ref at, line);
    }

    private static AssertExpr Compare(List<string> t, ref int at, int line)
    {
        var operands = new List<AssertExpr> { Sum(t, ref at, line) };
        var ops = new List<string>();
        while (at < t.Count && t[at] is "==" or "!=" or "<" or "<=" or ">" or ">=")
        {
            ops.Add(t[at++]);
            operands.Add(Sum(t, ref at, line));
        }
        return ops.Count == 0 ? operands[0] : new CompareExpr(operands, ops);
    }

    private static AssertExpr Sum(List<string> t, ref int at, int line)
    {
        AssertExpr left = Product(t, ref at, line);
        while (at < t.Count && t[at] is "+" or "-")
        {
            string op = t[at++];
            left = new BinaryExpr(op, left, Product(t, ref at, line));
        }
        return left;
    }

    private static AssertExpr Product(List<string> t, ref int at, int line)
    {
        AssertExpr left = Atom(t, ref at, line);
        while (at < t.Count && t[at] == "*")
        {
            at++;
            left = new BinaryExpr("*", left, Atom(t, ref at, line));
        }
        return left;
    }

    private static AssertExpr Atom(List<string> t, ref int at, int line)
    {
        if (at >= t.Count) throw new ScriptParseException(line, "assert ends where a value was expected");
        string token = t[at++];
        if (token == "(")
        {
            AssertExpr inner = Or(t, ref at, line);
            if (at >= t.Count || t[at] != ")") throw new ScriptParseException(line, "missing ) in assert");
            at++;
            return inner;
        }
        if (token == "-") return new UnaryExpr("-", Atom(t, ref at, line));
        if (char.IsAsciiDigit(token[0]))
        {
            bool hex = token.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!long.TryParse(hex ? token[2..] : token, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                throw new ScriptParseException(line, $"`{token}` is not a number");
            }
            return new NumberExpr(value);
        }
        if (char.IsAsciiLetter(token[0]) || token[0] == '_')
        {
            if (token is "True" or "False") return new NumberExpr(token == "True" ? 1 : 0);
            if (!TcpInfo.IsKnown(token))
            {
                throw new ScriptParseException(line, $"`{token}` is not supported in assertions; known names are {TcpInfo.KnownNames}");
            }
            return new NameExpr(token);
        }
        throw new ScriptParseException(line, $"unexpected `{token}` in assert");
    }
}

/// <summary>
/// The <c>tcpi_*</c> fields of Linux's struct tcp_info that UserTcp's engine can answer, in Linux's units
/// (segments for the congestion window, microseconds for times), and the <c>TCP_*</c> state numbers.
/// </summary>
internal static class TcpInfo
{
    private static readonly Dictionary<string, long> States = new()
    {
        ["TCP_ESTABLISHED"] = 1,
        ["TCP_SYN_SENT"] = 2,
        ["TCP_SYN_RECV"] = 3,
        ["TCP_FIN_WAIT1"] = 4,
        ["TCP_FIN_WAIT2"] = 5,
        ["TCP_TIME_WAIT"] = 6,
        ["TCP_CLOSE"] = 7,
        ["TCP_CLOSE_WAIT"] = 8,
        ["TCP_LAST_ACK"] = 9,
        ["TCP_LISTEN"] = 10,
        ["TCP_CLOSING"] = 11,
    };

    private static readonly string[] Fields =
        ["tcpi_state", "tcpi_snd_cwnd", "tcpi_snd_ssthresh", "tcpi_rto", "tcpi_rtt", "tcpi_snd_mss", "tcpi_total_retrans"];

    public static string KnownNames => string.Join(", ", Fields) + " and the TCP_* states";

    public static bool IsKnown(string name) => States.ContainsKey(name) || Fields.Contains(name);

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

    public static string StateName(long value) => States.FirstOrDefault(s => s.Value == value).Key ?? value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The value of a name for a connection (null: no connection; <paramref name="listening"/> answers tcpi_state then).</summary>
    public static long Value(string name, TcpConnection? connection, bool listening)
    {
        if (States.TryGetValue(name, out long state)) return state;
        if (name == "tcpi_state")
        {
            return connection is null ? (listening ? 10 : 7) : LinuxState(connection.State);
        }
        if (connection is null) throw new InvalidOperationException($"{name} needs a connection, and the script has none yet");
        int mss = Math.Max(1, connection.SendMss);
        return name switch
        {
            "tcpi_snd_cwnd" => connection.CongestionWindow / mss,
            // Linux reports TCP_INFINITE_SSTHRESH (0x7fffffff) until the first loss.
            "tcpi_snd_ssthresh" => connection.SlowStartThreshold == int.MaxValue ? int.MaxValue : connection.SlowStartThreshold / mss,
            "tcpi_rto" => (long)connection.Rto.TotalMicroseconds,
            "tcpi_rtt" => (long)connection.SmoothedRtt.TotalMicroseconds,
            "tcpi_snd_mss" => connection.SendMss,
            "tcpi_total_retrans" => connection.Retransmissions,
            _ => throw new InvalidOperationException($"{name} is not a known field"),
        };
    }
}

/// <summary>Evaluates an assertion against the connection under test.</summary>
internal static class AssertionEvaluator
{
    public static long Evaluate(AssertExpr expr, Func<string, long> lookup) => expr switch
    {
        NumberExpr n => n.Value,
        NameExpr n => lookup(n.Name),
        UnaryExpr { Op: "not" } u => Evaluate(u.Operand, lookup) == 0 ? 1 : 0,
        UnaryExpr u => -Evaluate(u.Operand, lookup),
        BinaryExpr { Op: "and" } b => Evaluate(b.Left, lookup) != 0 && Evaluate(b.Right, lookup) != 0 ? 1 : 0,
        BinaryExpr { Op: "or" } b => Evaluate(b.Left, lookup) != 0 || Evaluate(b.Right, lookup) != 0 ? 1 : 0,
        BinaryExpr { Op: "+" } b => Evaluate(b.Left, lookup) + Evaluate(b.Right, lookup),
        BinaryExpr { Op: "-" } b => Evaluate(b.Left, lookup) - Evaluate(b.Right, lookup),
        BinaryExpr { Op: "*" } b => Evaluate(b.Left, lookup) * Evaluate(b.Right, lookup),
        CompareExpr c => Chain(c, lookup) ? 1 : 0,
        _ => throw new InvalidOperationException($"cannot evaluate {expr}"),
    };

    private static bool Chain(CompareExpr c, Func<string, long> lookup)
    {
        long left = Evaluate(c.Operands[0], lookup);
        for (int i = 0; i < c.Ops.Count; i++)
        {
            long right = Evaluate(c.Operands[i + 1], lookup);
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

    /// <summary>The names an expression reads, for the failure message.</summary>
    public static IEnumerable<string> Names(AssertExpr expr) => expr switch
    {
        NameExpr n => [n.Name],
        UnaryExpr u => Names(u.Operand),
        BinaryExpr b => Names(b.Left).Concat(Names(b.Right)),
        CompareExpr c => c.Operands.SelectMany(Names),
        _ => [],
    };
}
