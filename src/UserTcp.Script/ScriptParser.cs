using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>
/// A recursive-descent parser for the packetdrill subset UserTcp runs (grammar in docs/scripts.md; packetdrill's
/// parser.y is the reference). Statements are free-form like packetdrill's; every error names the line where the
/// statement starts and says what was expected or what is not supported.
/// </summary>
public static partial class ScriptParser
{
    private static readonly HashSet<string> PacketFields = ["ack", "win", "urg"];

    /// <summary>
    /// Parses a whole script. Throws <see cref="ScriptParseException"/> naming the line on any error.
    /// <paramref name="defines"/> are packetdrill's <c>-D SYMBOL=value</c>: each word SYMBOL after the option lines
    /// reads as its value (so do <c>--define=SYMBOL=value</c> option lines).
    /// </summary>
    public static PacketScript Parse(string text, string name = "script", IReadOnlyDictionary<string, string>? defines = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parser = new Parser(ScriptLexer.Tokenize(text));
        return parser.Script(name, defines);
    }

    private sealed partial class Parser(List<Token> tokens)
    {
        private int _at;
        // Variables the script's code blocks have assigned so far (Python's, shared by all blocks).
        private readonly HashSet<string> _variables = new(StringComparer.Ordinal);

        private Token Peek(int ahead = 0) => tokens[Math.Min(_at + ahead, tokens.Count - 1)];

        private Token Next() => tokens[Math.Min(_at++, tokens.Count - 1)];

        public PacketScript Script(string name, IReadOnlyDictionary<string, string>? defines)
        {
            var options = new List<ScriptOption>();
            var symbols = new Dictionary<string, string>(defines ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            while (Peek().Kind == TokenKind.Option)
            {
                Token option = Next();
                string? value = null;
                if (Peek().Is('='))
                {
                    Next();
                    Token v = Next();
                    if (v.Kind is TokenKind.End or TokenKind.Punct || v.Text.Length == 0) throw Error(option.Line, $"option --{option.Text}= needs a value");
                    value = v.Text;
                }
                if (option.Text == "define")
                {
                    int equals = value?.IndexOf('=', StringComparison.Ordinal) ?? -1;
                    if (equals <= 0) throw Error(option.Line, "a definition is written --define=SYMBOL=value");
                    symbols[value![..equals]] = value[(equals + 1)..];
                }
                options.Add(new ScriptOption(option.Line, option.Text, value));
            }
            Define(symbols);

            var events = new List<ScriptEvent>();
            while (Peek().Kind != TokenKind.End)
            {
                if (Peek().Kind == TokenKind.Option)
                {
                    throw Error(Peek().Line, $"option --{Peek().Text} must come before the first event");
                }
                if (events.LastOrDefault() is CommandEvent { CommandTime: null } cleanup && events.Any(e => e is not CommandEvent { CommandTime: null }))
                {
                    throw Error(Peek().Line, $"the `command` without a time on line {cleanup.Line} comes after the events, so it is the cleanup command and must "
                        + "come last (packetdrill's grammar: opt_init_command events opt_cleanup_command); give it a time to run it in between: +0 `...`");
                }
                if (Peek().Kind == TokenKind.BackQuoted)
                {
                    // An init or cleanup command outside the timeline: packetdrill's grammar has one of each, before the
                    // first event and after the last.
                    Token command = Next();
                    if (events.Count > 0 && events.All(e => e is CommandEvent { CommandTime: null }))
                    {
                        throw Error(command.Line, "only one `command` without a time may come before the first event (the init command); give this one a time: 0 `...`");
                    }
                    events.Add(new CommandEvent(command.Line, null, command.Text));
                    continue;
                }
                events.Add(Event());
            }
            ScriptEvent? first = events.FirstOrDefault(e => e is not CommandEvent { CommandTime: null });
            if (first is null)
            {
                // packetdrill's grammar needs one event at least: an empty or cut-off file is an error, not a pass.
                throw Error(Peek().Line, "the script has no events: it needs at least one timed line (a packet, a system call, a `command` or a %{ }% block)");
            }
            if (first.Time.Start != 0)
            {
                throw Error(first.Line, "the first event must be at time 0");
            }
            // packetdrill's get_next_event: an absolute time may not come before the absolute time of the line before it.
            ScriptEvent? previous = null;
            foreach (ScriptEvent e in events.Where(e => e is not CommandEvent { CommandTime: null }))
            {
                if (previous is not null && IsAbsolute(previous.Time) && IsAbsolute(e.Time) && e.Time.Start < previous.Time.Start)
                {
                    throw Error(e.Line, $"time goes backward in script from {EventTime.Seconds(previous.Time.Start)} s to {EventTime.Seconds(e.Time.Start)} s");
                }
                previous = e;
            }
            return new PacketScript(name, options, events);
        }

        /// <summary>
        /// packetdrill's definitions (lexer.l word()): a word that is a defined symbol reads as its value, a string for
        /// <c>"value"</c>, a command for <c>`value`</c>, a number when the whole value is one, otherwise a word.
        /// </summary>
        private void Define(Dictionary<string, string> symbols)
        {
            if (symbols.Count == 0) return;
            for (int i = _at; i < tokens.Count; i++)
            {
                Token t = tokens[i];
                if (t.Kind != TokenKind.Word || !symbols.TryGetValue(t.Text, out string? value)) continue;
                tokens[i] = value.Length >= 2 && value[0] is '"' or '`' && value[^1] == value[0]
                    ? new Token(value[0] == '"' ? TokenKind.String : TokenKind.BackQuoted, value[1..^1], t.Line)
                    : ScriptLexer.Tokenize(value) is [{ Kind: TokenKind.Integer } number, { Kind: TokenKind.End }]
                        ? number with { Line = t.Line }
                        : new Token(TokenKind.Word, value, t.Line);
            }
        }

        private ScriptEvent Event()
        {
            Token start = Peek();
            int line = start.Line;
            EventTime time = Time();
            Token action = Peek();
            ScriptEvent result;
            if (action.Is('<') || action.Is('>'))
            {
                result = IsIcmpLine() ? new IcmpEvent(line, time, Icmp()) : new PacketEvent(line, time, Packet());
            }
            else if (action.Kind == TokenKind.BackQuoted)
            {
                Next();
                result = new CommandEvent(line, time, action.Text);
            }
            else if (action.Kind == TokenKind.Code)
            {
                Next();
                result = new AssertEvent(line, time, CodeBlockParser.Parse(action.Text, action.Line, _variables));
            }
            else if (action.Kind == TokenKind.Ellipsis || (action.Kind == TokenKind.Word && Peek(1).Is('(')))
            {
                result = new SyscallEvent(line, time, Syscall(line));
            }
            else
            {
                throw Error(action.Line, $"expected a packet (< or >), a system call, a `command` or a %{{ }}% block after the time, not `{action.Display}`");
            }

            if (time.Kind is TimeKind.Any or TimeKind.AbsoluteRange or TimeKind.RelativeRange
                && !(result is PacketEvent { Packet.Direction: PacketDirection.Outbound }))
            {
                throw Error(line, time.Kind == TimeKind.Any
                    ? "event time * can only be used with outbound packets"
                    : "event time range can only be used with outbound packets");
            }

            // The next statement must start with a time; anything else is left-over text of this one.
            Token next = Peek();
            if (!(next.Kind is TokenKind.End or TokenKind.BackQuoted or TokenKind.Option or TokenKind.Integer or TokenKind.Float || next.Is('+') || next.Is('*')))
            {
                throw Error(next.Line, $"unexpected `{next.Display}` after {Describe(result)}");
            }
            return result;
        }

        private static bool IsAbsolute(EventTime time) => time.Kind is TimeKind.Absolute or TimeKind.AbsoluteRange;

        private static string Describe(ScriptEvent e) => e switch
        {
            PacketEvent p => $"the packet `{p.Packet}` (line {e.Line})",
            IcmpEvent i => $"the packet `{i.Icmp}` (line {e.Line})",
            SyscallEvent s => $"the call `{s.Call.Call}` (line {e.Line})",
            _ => $"line {e.Line}",
        };

        private EventTime Time()
        {
            Token t = Peek();
            if (t.Is('*'))
            {
                Next();
                return new EventTime(TimeKind.Any, 0);
            }
            bool relative = false;
            if (t.Is('+'))
            {
                Next();
                relative = true;
            }
            long start = Seconds("a time");
            if (!Peek().Is('~')) return new EventTime(relative ? TimeKind.Relative : TimeKind.Absolute, start);
            Next();
            if (relative)
            {
                if (!Peek().Is('+')) throw Error(Peek().Line, "a relative time range is written +A~+B");
                Next();
            }
            else if (Peek().Is('+'))
            {
                throw Error(Peek().Line, "an absolute time range is written A~B (or +A~+B for a relative one)");
            }
            long end = Seconds("the end of the time range");
            if (end < start) throw Error(t.Line, "time range is backwards");
            return new EventTime(relative ? TimeKind.RelativeRange : TimeKind.AbsoluteRange, start, end);
        }

        /// <summary>A time in seconds (integer or decimal) as microseconds.</summary>
        private long Seconds(string what)
        {
            Token t = Next();
            double seconds = t.Kind switch
            {
                TokenKind.Integer => t.Integer,
                TokenKind.Float => t.Float,
                _ => throw Error(t.Line, $"expected {what} in seconds, not `{t.Display}`"),
            };
            if (seconds < 0) throw Error(t.Line, "negative time");
            return (long)Math.Round(seconds * 1e6);
        }

        // ───────────── system calls ─────────────

        private SyscallSpec Syscall(int line)
        {
            long? end = null;
            if (Peek().Kind == TokenKind.Ellipsis)
            {
                Next();
                if (Peek().Is('+')) throw Error(line, "the end time of a blocking call is written start...end, end without +");
                end = Seconds("the time the blocking call returns");
            }
            Token name = Next();
            if (name.Kind != TokenKind.Word) throw Error(line, $"expected a system call name, not `{name.Display}`");
            Expect('(', line, $"after {name.Text}");
            var arguments = new List<ScriptExpression>();
            if (!Peek().Is(')'))
            {
                while (true)
                {
                    arguments.Add(Expression(line));
                    Token t = Next();
                    if (t.Is(')')) break;
                    if (!t.Is(',')) throw Error(line, $"expected , or ) in the arguments of {name.Text}, not `{t.Display}`");
                }
            }
            else
            {
                Next();
            }
            Token equals = Next();
            if (!equals.Is('=')) throw Error(line, $"expected `= result` after {name.Text}(...), not `{equals.Display}`");
            ScriptExpression result = Expression(line);
            string? errno = null;
            if (Peek().Kind == TokenKind.Word && Peek().Text.StartsWith('E') && Peek().Text.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c)))
            {
                errno = Next().Text;
            }
            if (Peek().Is('('))
            {
                // A note: "(Operation now in progress)" or "(flags O_RDWR)": words only (parser.y's note: '(' word_list ')').
                Token open = Next();
                int words = 0;
                while (true)
                {
                    Token t = Next();
                    if (t.Kind == TokenKind.End) throw Error(open.Line, "the note in parentheses is never closed");
                    if (t.Is(')') && words > 0) break;
                    if (t.Kind != TokenKind.Word)
                    {
                        throw Error(t.Line, $"a note in parentheses holds words only (packetdrill's word_list), not `{t.Display}`");
                    }
                    words++;
                }
            }
            return new SyscallSpec(name.Text, arguments, result, errno, end);
        }

        private ScriptExpression Expression(int line)
        {
            ScriptExpression left = Primary(line);
            while (Peek().Is('|'))
            {
                Next();
                left = new OrExpression(left, Primary(line));
            }
            return left;
        }

        private ScriptExpression Primary(int line)
        {
            Token t = Next();
            switch (t.Kind)
            {
                case TokenKind.Ellipsis:
                    return new EllipsisExpression();
                case TokenKind.Integer:
                    return new IntegerExpression(t.Integer, t.Text);
                case TokenKind.String:
                    if (Peek().Kind == TokenKind.Ellipsis) Next(); // "abc"... : a prefix of the data
                    return new StringExpression(t.Text);
                case TokenKind.Word:
                    if (Peek().Is('('))
                    {
                        Next();
                        var arguments = new List<ScriptExpression>();
                        while (!Peek().Is(')'))
                        {
                            arguments.Add(Expression(line));
                            if (Peek().Is(',')) Next();
                            else if (!Peek().Is(')')) throw Error(line, $"expected , or ) in {t.Text}(...), not `{Peek().Display}`");
                        }
                        Next();
                        if (Peek().Is('=') && arguments.Count == 1)
                        {
                            // msg_iov(1)=[...], msg_name(...)=...: a struct field with its count or address.
                            Next();
                            return new AssignExpression(t.Text, Expression(line)) { Argument = arguments[0] };
                        }
                        return new CallExpression(t.Text, arguments);
                    }
                    if (Peek().Is('='))
                    {
                        Next();
                        return new AssignExpression(t.Text, Expression(line));
                    }
                    return new WordExpression(t.Text);
                case TokenKind.Punct when t.Is('[') || t.Is('{'):
                {
                    char close = t.Is('[') ? ']' : '}';
                    var items = new List<ScriptExpression>();
                    while (!Peek().Is(close))
                    {
                        items.Add(Expression(line));
                        if (Peek().Is(',')) Next();
                        else if (!Peek().Is(close)) throw Error(line, $"expected , or {close} in {t.Text}...{close}, not `{Peek().Display}`");
                    }
                    Next();
                    return t.Is('{')
                        ? new ListExpression(items, Braces: true) { Struct = StructRecognizer.Recognize(items, line) }
                        : new ListExpression(items, Braces: false);
                }
                default:
                    throw Error(line, $"expected a value (a number, a symbol, ..., [n] or {{...}}), not `{t.Display}`");
            }
        }

        // ───────────── helpers ─────────────

        private void Expect(char punct, int line, string where)
        {
            Token t = Next();
            if (!t.Is(punct)) throw Error(line, $"expected `{punct}` {where}, not `{t.Display}`".Replace("  ", " ", StringComparison.Ordinal));
        }

        /// <summary>A hex blob (a Fast Open cookie, an MD5 digest): an even number of hex digits, as one word or number.</summary>
        private static byte[] Hex(Token t, int line, string what)
        {
            if (t.Text.Length % 2 != 0) throw Error(line, $"{what} '{t.Text}' has an odd number of digits");
            try
            {
                return Convert.FromHexString(t.Text);
            }
            catch (FormatException)
            {
                throw Error(line, $"{what} '{t.Text}' is not a valid hex string");
            }
        }

        private static uint U32(Token t, int line, string what)
        {
            if (t.Kind != TokenKind.Integer || t.Integer is < 0 or > uint.MaxValue) throw Error(line, $"{what} out of range");
            return (uint)t.Integer;
        }

        private static ScriptParseException Error(int line, string message) => new(line, message);
    }

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
