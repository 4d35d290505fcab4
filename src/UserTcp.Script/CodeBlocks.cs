using System.Globalization;

namespace UserTcp.Script;

/// <summary>
/// One statement of a <c>%{ }%</c> block. packetdrill runs these blocks in Python after the script, on TCP_INFO
/// snapshots taken at each block's time, all in one interpreter (a variable set in one block is seen by the next).
/// UserTcp reads the subset upstream scripts use: <c>assert</c>, assignments (<c>=</c>, <c>+=</c>, <c>-=</c>),
/// <c>print(...)</c>, comments and backslash continuations.
/// </summary>
public abstract record CodeStatement(int Line);

/// <summary><c>assert condition[, message]</c>; <see cref="Text"/> is the condition as written.</summary>
public sealed record Assertion(int Line, string Text, AssertExpr Condition) : CodeStatement(Line)
{
    /// <summary>The Python message after the comma, as written (the runner prints its own, with the values).</summary>
    public string? Message { get; init; }

    public override string ToString() => "assert " + Text;
}

/// <summary><c>cwnd = 10</c>, <c>cwnd += 10</c>: a Python variable, seen by later statements and blocks.</summary>
public sealed record AssignStatement(int Line, string Variable, string Operator, AssertExpr Value) : CodeStatement(Line)
{
    public override string ToString() => $"{Variable} {Operator} {Value}";
}

/// <summary><c>print(tcpi_snd_cwnd)</c>: the values go to the verbose trace.</summary>
public sealed record PrintStatement(int Line, IReadOnlyList<AssertExpr> Values) : CodeStatement(Line)
{
    public bool Equals(PrintStatement? other) => other is not null && Line == other.Line && Values.SequenceEqual(other.Values);
    public override int GetHashCode() => Line;
    public override string ToString() => $"print({string.Join(", ", Values)})";
}

/// <summary>An expression inside a code block.</summary>
public abstract record AssertExpr;

public sealed record NumberExpr(long Value) : AssertExpr
{
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A string literal (in print and in messages).</summary>
public sealed record StringExpr(string Value) : AssertExpr
{
    public override string ToString() => $"'{Value}'";
}

/// <summary>A <c>tcpi_*</c> field of the TCP_INFO snapshot.</summary>
public sealed record FieldExpr(TcpInfoField Field) : AssertExpr
{
    public override string ToString() => TcpInfoNames.Name(Field);
}

/// <summary>A name packetdrill defines before each block: <c>TCP_ESTABLISHED</c>, <c>TCP_CA_Recovery</c>, <c>TCPI_OPT_SACK</c>.</summary>
public sealed record ConstantExpr(string Name, long Value) : AssertExpr
{
    public override string ToString() => Name;
}

/// <summary>A variable the script assigned in an earlier statement.</summary>
public sealed record VariableExpr(string Name) : AssertExpr
{
    public override string ToString() => Name;
}

public sealed record UnaryExpr(string Op, AssertExpr Operand) : AssertExpr
{
    public override string ToString() => Op == "not" ? $"not {Operand}" : $"{Op}{Operand}";
}

/// <summary><c>and or + - * // % &amp; | ^ &lt;&lt; &gt;&gt;</c>.</summary>
public sealed record BinaryExpr(string Op, AssertExpr Left, AssertExpr Right) : AssertExpr
{
    public override string ToString() => $"{Left} {Op} {Right}";
}

/// <summary>A Python comparison chain: <c>a &lt; b &lt;= c</c> means <c>a &lt; b and b &lt;= c</c>.</summary>
public sealed record CompareExpr(IReadOnlyList<AssertExpr> Operands, IReadOnlyList<string> Ops) : AssertExpr
{
    public bool Equals(CompareExpr? other) => other is not null && Operands.SequenceEqual(other.Operands) && Ops.SequenceEqual(other.Ops);
    public override int GetHashCode() => Ops.Count;

    public override string ToString()
    {
        var text = new System.Text.StringBuilder(Operands[0].ToString());
        for (int i = 0; i < Ops.Count; i++) text.Append(' ').Append(Ops[i]).Append(' ').Append(Operands[i + 1]);
        return text.ToString();
    }
}

/// <summary><c>(a, b)</c>: a tuple, the right side of <c>'%d %d' % (a, b)</c>.</summary>
public sealed record TupleExpr(IReadOnlyList<AssertExpr> Items) : AssertExpr
{
    public bool Equals(TupleExpr? other) => other is not null && Items.SequenceEqual(other.Items);
    public override int GetHashCode() => Items.Count;
    public override string ToString() => $"({string.Join(", ", Items)})";
}

/// <summary>
/// Parses the text of a <c>%{ }%</c> block. Names are resolved as they are read: <c>tcpi_*</c> must be a field of
/// struct tcp_info, upper-case names one of packetdrill's constants, and any other name a variable assigned earlier
/// in the script (<paramref name="variables"/> carries them from block to block).
/// </summary>
internal static class CodeBlockParser
{
    public static List<CodeStatement> Parse(string code, int firstLine, ISet<string> variables)
    {
        var statements = new List<CodeStatement>();
        foreach ((int line, string text) in Statements(code, firstLine))
        {
            statements.Add(Statement(text, line, variables));
        }
        if (statements.Count == 0) throw new ScriptParseException(firstLine, "a %{ }% block needs at least one statement");
        return statements;
    }

    /// <summary>Splits a block into statements with their lines: backslash-newline joins, <c>#</c> comments, <c>;</c> and newlines separate.</summary>
    private static IEnumerable<(int Line, string Text)> Statements(string code, int firstLine)
    {
        var current = new System.Text.StringBuilder();
        int line = firstLine, start = firstLine;
        char quote = '\0';
        for (int i = 0; i <= code.Length; i++)
        {
            char c = i < code.Length ? code[i] : '\n';
            if (quote != '\0')
            {
                current.Append(c);
                if (c == quote) quote = '\0';
                if (c == '\n') throw new ScriptParseException(line, "string in a %{ }% block is not closed on its line");
                continue;
            }
            if (c is '\'' or '"')
            {
                quote = c;
                current.Append(c);
                continue;
            }
            if (c == '\\' && i + 1 < code.Length && code[i + 1] == '\n')
            {
                current.Append(' ');
                line++;
                i++;
                continue;
            }
            if (c == '#')
            {
                while (i + 1 < code.Length && code[i + 1] != '\n') i++;
                continue;
            }
            if (c is '\n' or ';')
            {
                string text = current.ToString().Trim();
                if (text.Length > 0) yield return (start, text);
                current.Clear();
                if (c == '\n') line++;
                start = line;
                continue;
            }
            if (current.Length == 0 && char.IsWhiteSpace(c)) continue;
            if (current.Length == 0) start = line;
            current.Append(c);
        }
    }

    private static CodeStatement Statement(string text, int line, ISet<string> variables)
    {
        List<string> tokens = Tokenize(text, line);
        var reader = new Reader(tokens, line, variables);
        if (tokens[0] == "assert")
        {
            reader.At = 1;
            if (tokens.Count == 1) throw new ScriptParseException(line, "assert needs a condition");
            AssertExpr condition = reader.Expression();
            string? message = null;
            if (reader.Peek == ",")
            {
                reader.At++;
                int messageStart = reader.At;
                reader.MessageExpression();
                message = string.Join(" ", tokens.Skip(messageStart));
            }
            reader.End();
            string body = text["assert".Length..].Trim();
            return new Assertion(line, ConditionText(body), condition) { Message = message };
        }
        if (tokens[0] == "print" && tokens.Count > 1 && tokens[1] == "(")
        {
            reader.At = 2;
            var values = new List<AssertExpr>();
            while (reader.Peek != ")")
            {
                values.Add(reader.MessageExpression());
                if (reader.Peek == ",") reader.At++;
                else if (reader.Peek != ")") throw new ScriptParseException(line, $"expected , or ) in print(...), not `{reader.Peek}`");
            }
            reader.At++;
            reader.End();
            return new PrintStatement(line, values);
        }
        if (tokens.Count >= 3 && IsName(tokens[0]) && tokens[1] is "=" or "+=" or "-=")
        {
            string name = tokens[0];
            if (name.StartsWith("tcpi_", StringComparison.Ordinal)) throw new ScriptParseException(line, $"`{name}` is a TCP_INFO field: it cannot be assigned");
            if (tokens[1] != "=" && !variables.Contains(name) && !TcpInfoNames.TryConstant(name, out _))
            {
                throw new ScriptParseException(line, $"`{name}` is used before it is assigned");
            }
            reader.At = 2;
            AssertExpr value = reader.Expression();
            reader.End();
            variables.Add(name);
            return new AssignStatement(line, name, tokens[1], value);
        }
        throw new ScriptParseException(line, $"only assert, print(...) and assignments are supported in %{{ }}% blocks, not `{text}`");
    }

    /// <summary>The condition of an assert as written: up to the top-level comma that starts the message.</summary>
    private static string ConditionText(string body)
    {
        int depth = 0;
        char quote = '\0';
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                continue;
            }
            if (c is '\'' or '"') quote = c;
            else if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == ',' && depth == 0) return body[..i].Trim();
        }
        return body;
    }

    private static bool IsName(string token) => token.Length > 0 && (char.IsAsciiLetter(token[0]) || token[0] == '_');

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
                if (end < 0) throw new ScriptParseException(line, "string in a %{ }% block is not closed");
                tokens.Add(text[i..(end + 1)]);
                i = end + 1;
                continue;
            }
            string two = i + 1 < text.Length ? text.Substring(i, 2) : "";
            if (two is "==" or "!=" or "<=" or ">=" or "//" or "<<" or ">>" or "+=" or "-=")
            {
                tokens.Add(two);
                i += 2;
                continue;
            }
            if ("<>+-*%&|^~()=,".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(c.ToString());
                i++;
                continue;
            }
            throw new ScriptParseException(line, $"unexpected character '{c}' in a %{{ }}% block");
        }
        return tokens;
    }

    /// <summary>Recursive descent over Python's precedence: or, and, not, comparisons, |, ^, &amp;, shifts, + -, * // %, unary.</summary>
    private sealed class Reader(List<string> tokens, int line, ISet<string> variables)
    {
        public int At { get; set; }

        public string? Peek => At < tokens.Count ? tokens[At] : null;

        public void End()
        {
            if (At < tokens.Count) throw new ScriptParseException(line, $"unexpected `{tokens[At]}` in a %{{ }}% statement");
        }

        public AssertExpr Expression() => Or();

        /// <summary>An assert message or print argument: any expression, strings and <c>'fmt' % (a, b)</c> included.</summary>
        public AssertExpr MessageExpression() => Or(strings: true);

        private AssertExpr Or(bool strings = false)
        {
            AssertExpr left = And(strings);
            while (Peek == "or")
            {
                At++;
                left = new BinaryExpr("or", left, And(strings));
            }
            return left;
        }

        private AssertExpr And(bool strings)
        {
            AssertExpr left = Not(strings);
            while (Peek == "and")
            {
                At++;
                left = new BinaryExpr("and", left, Not(strings));
            }
            return left;
        }

        private AssertExpr Not(bool strings)
        {
            if (Peek == "not")
            {
                At++;
                return new UnaryExpr("not", Not(strings));
            }
            return Compare(strings);
        }

        private AssertExpr Compare(bool strings)
        {
            var operands = new List<AssertExpr> { Binary(0, strings) };
            var ops = new List<string>();
            while (Peek is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                ops.Add(tokens[At++]);
                operands.Add(Binary(0, strings));
            }
            return ops.Count == 0 ? operands[0] : new CompareExpr(operands, ops);
        }

        private static readonly string[][] Levels = [["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "//", "%"]];

        private AssertExpr Binary(int level, bool strings)
        {
            if (level == Levels.Length) return Unary(strings);
            AssertExpr left = Binary(level + 1, strings);
            while (Peek is string op && Levels[level].Contains(op))
            {
                At++;
                left = new BinaryExpr(op, left, Binary(level + 1, strings));
            }
            return left;
        }

        private AssertExpr Unary(bool strings)
        {
            if (Peek is "-" or "~" or "+")
            {
                string op = tokens[At++];
                AssertExpr operand = Unary(strings);
                return op == "+" ? operand : new UnaryExpr(op, operand);
            }
            return Atom(strings);
        }

        private AssertExpr Atom(bool strings)
        {
            if (Peek is not string token) throw new ScriptParseException(line, "a %{ }% statement ends where a value was expected");
            At++;
            if (token == "(")
            {
                AssertExpr inner = Or(strings);
                if (strings && Peek == ",")
                {
                    var items = new List<AssertExpr> { inner };
                    while (Peek == ",")
                    {
                        At++;
                        items.Add(Or(strings));
                    }
                    inner = new TupleExpr(items);
                }
                if (Peek != ")") throw new ScriptParseException(line, "missing ) in a %{ }% statement");
                At++;
                return inner;
            }
            if (token[0] is '\'' or '"')
            {
                if (!strings) throw new ScriptParseException(line, $"a string ({token}) is only allowed in messages and print(...)");
                return new StringExpr(token[1..^1]);
            }
            if (char.IsAsciiDigit(token[0])) return new NumberExpr(Number(token));
            if (token is "True" or "False") return new NumberExpr(token == "True" ? 1 : 0);
            if (!IsName(token)) throw new ScriptParseException(line, $"unexpected `{token}` in a %{{ }}% statement");
            if (token.StartsWith("tcpi_", StringComparison.Ordinal))
            {
                return TcpInfoNames.TryField(token, out TcpInfoField field)
                    ? new FieldExpr(field)
                    : throw new ScriptParseException(line, $"`{token}` is not a field of struct tcp_info");
            }
            if (variables.Contains(token)) return new VariableExpr(token);
            if (TcpInfoNames.TryConstant(token, out long value)) return new ConstantExpr(token, value);
            throw new ScriptParseException(line, $"`{token}` is not a tcpi_ field, a packetdrill constant (TCP_ESTABLISHED, TCP_CA_Open, TCPI_OPT_SACK, ...) "
                + "or a variable assigned earlier");
        }

        private long Number(string token)
        {
            bool hex = token.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            return long.TryParse(hex ? token[2..] : token, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out long value)
                ? value
                : throw new ScriptParseException(line, $"`{token}` is not a number");
        }
    }
}
