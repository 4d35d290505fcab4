using System.Globalization;
using System.Text;

namespace UserTcp.Script;

/// <summary>Kinds of token in a packetdrill script (lexer.l in packetdrill).</summary>
internal enum TokenKind : byte
{
    End,
    Integer,
    Float,
    Word,
    String,
    BackQuoted,
    Code,
    Option,
    Ellipsis,
    Address,
    Punct,
}

/// <summary>One token with the line it starts on (1-based).</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, long Integer = 0, double Float = 0)
{
    public bool Is(char punct) => Kind == TokenKind.Punct && Text.Length == 1 && Text[0] == punct;

    public bool IsWord(string word) => Kind == TokenKind.Word && Text == word;

    /// <summary>How the token reads in the script, for error messages.</summary>
    public string Display => Kind switch
    {
        TokenKind.End => "end of script",
        TokenKind.String => $"\"{Text}\"",
        TokenKind.BackQuoted => $"`{Text}`",
        TokenKind.Code => "%{ ... }%",
        TokenKind.Option => $"--{Text}",
        _ => Text,
    };
}

/// <summary>
/// Splits a script into tokens the way packetdrill's flex scanner does: free-form (a statement may span lines),
/// <c>//</c> and <c>/* */</c> comments, <c>%{ }%</c> code, back-quoted shell commands, <c>--option</c> names, and the
/// longest match between numbers, words and dotted IPv4 addresses.
/// </summary>
internal static class ScriptLexer
{
    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        int i = 0, line = 1;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\n')
            {
                line++;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (c == '/' && At(text, i + 1) == '/')
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            if (c == '/' && At(text, i + 1) == '*')
            {
                int start = line;
                int end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0) throw new ScriptParseException(start, "comment /* is never closed with */");
                line += Count(text, i, end, '\n');
                i = end + 2;
                continue;
            }
            if (c == '%' && At(text, i + 1) == '{')
            {
                int end = text.IndexOf("}%", i + 2, StringComparison.Ordinal);
                if (end < 0) throw new ScriptParseException(line, "code block %{ is never closed with }%");
                tokens.Add(new Token(TokenKind.Code, text[(i + 2)..end], line));
                line += Count(text, i, end, '\n');
                i = end + 2;
                continue;
            }
            if (c == '.' && At(text, i + 1) == '.' && At(text, i + 2) == '.')
            {
                tokens.Add(new Token(TokenKind.Ellipsis, "...", line));
                i += 3;
                continue;
            }
            if (c == '-' && At(text, i + 1) == '-' && IsWordChar(At(text, i + 2)))
            {
                int end = i + 2;
                while (end < text.Length && IsWordChar(text[end])) end++;
                tokens.Add(new Token(TokenKind.Option, text[(i + 2)..end], line));
                i = end;
                if (At(text, i) == '=')
                {
                    // An option's value is everything up to the next blank: an address (IPv4 or IPv6), a number, a
                    // word, or SYMBOL=value for --define, quotes kept.
                    tokens.Add(new Token(TokenKind.Punct, "=", line));
                    tokens.Add(new Token(TokenKind.Word, OptionValue(text, ref i), line));
                }
                continue;
            }
            if (c is '"' or '`')
            {
                tokens.Add(Quoted(text, ref i, ref line));
                continue;
            }
            if (char.IsAsciiDigit(c) || (c == '-' && (char.IsAsciiDigit(At(text, i + 1)) || (At(text, i + 1) == '.' && char.IsAsciiDigit(At(text, i + 2)))))
                || (c == '.' && char.IsAsciiDigit(At(text, i + 1))))
            {
                tokens.Add(Number(text, ref i, line));
                continue;
            }
            if (IsWordChar(c))
            {
                int end = i;
                while (end < text.Length && IsWordChar(text[end])) end++;
                tokens.Add(new Token(TokenKind.Word, text[i..end], line));
                i = end;
                continue;
            }
            tokens.Add(new Token(TokenKind.Punct, c.ToString(), line));
            i++;
        }
        tokens.Add(new Token(TokenKind.End, "", line));
        return tokens;
    }

    /// <summary>
    /// A "string" or a `shell command`; either may span lines, as in packetdrill's scanner. A string drops the backslash
    /// of an escape; a back-quoted command keeps its text byte for byte (a backslash-newline is the shell's line
    /// continuation, for the shell reader to join).
    /// </summary>
    private static Token Quoted(string text, ref int i, ref int line)
    {
        char quote = text[i];
        int start = line;
        int end = i + 1;
        var value = new StringBuilder();
        while (end < text.Length && text[end] != quote)
        {
            if (text[end] == '\\' && end + 1 < text.Length)
            {
                if (quote == '`') value.Append('\\');
                end++;
            }
            if (text[end] == '\n') line++;
            value.Append(text[end]);
            end++;
        }
        if (end >= text.Length)
        {
            throw new ScriptParseException(start, quote == '`' ? "` command is never closed with `" : "\" string is never closed with \"");
        }
        i = end + 1;
        return new Token(quote == '"' ? TokenKind.String : TokenKind.BackQuoted, value.ToString(), start);
    }

    /// <summary>The text after <c>--name=</c> up to a blank outside quotes (i is at the '=').</summary>
    private static string OptionValue(string text, ref int i)
    {
        int start = ++i;
        char quote = '\0';
        while (i < text.Length && (quote != '\0' || !char.IsWhiteSpace(text[i])))
        {
            if (quote == '\0' && text[i] is '"' or '`') quote = text[i];
            else if (text[i] == quote) quote = '\0';
            i++;
        }
        return text[start..i];
    }

    /// <summary>The longest of: IPv4 address, float, hex integer, integer, word (flex's rule; ties go to the number).</summary>
    private static Token Number(string text, ref int i, int line)
    {
        int address = MatchAddress(text, i);
        int floating = MatchFloat(text, i);
        int hex = MatchHex(text, i);
        int integer = MatchInteger(text, i);
        int word = MatchWord(text, i);
        int best = Math.Max(Math.Max(address, floating), Math.Max(Math.Max(hex, integer), word));
        string lexeme = text.Substring(i, best);
        i += best;
        if (best == address) return new Token(TokenKind.Address, lexeme, line);
        if (best == floating)
        {
            return new Token(TokenKind.Float, lexeme, line, Float: double.Parse(lexeme, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture));
        }
        if (best == integer)
        {
            if (!long.TryParse(lexeme, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                throw new ScriptParseException(line, $"number {lexeme} is too large");
            }
            return new Token(TokenKind.Integer, lexeme, line, Integer: value);
        }
        if (best == hex)
        {
            if (!long.TryParse(lexeme.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long value))
            {
                throw new ScriptParseException(line, $"number {lexeme} is too large");
            }
            return new Token(TokenKind.Integer, lexeme, line, Integer: value);
        }
        return new Token(TokenKind.Word, lexeme, line);
    }

    private static int MatchAddress(string text, int i)
    {
        int at = i;
        for (int part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (At(text, at) != '.') return 0;
                at++;
            }
            int digits = at;
            while (char.IsAsciiDigit(At(text, at))) at++;
            if (at == digits) return 0;
        }
        return at - i;
    }

    private static int MatchFloat(string text, int i)
    {
        int at = i;
        if (At(text, at) == '-') at++;
        while (char.IsAsciiDigit(At(text, at))) at++;
        if (At(text, at) != '.' || !char.IsAsciiDigit(At(text, at + 1))) return 0;
        at++;
        while (char.IsAsciiDigit(At(text, at))) at++;
        return at - i;
    }

    private static int MatchHex(string text, int i)
    {
        if (At(text, i) != '0' || At(text, i + 1) != 'x' || !char.IsAsciiHexDigit(At(text, i + 2))) return 0;
        int at = i + 2;
        while (char.IsAsciiHexDigit(At(text, at))) at++;
        return at - i;
    }

    private static int MatchInteger(string text, int i)
    {
        int at = i;
        if (At(text, at) == '-') at++;
        int digits = at;
        while (char.IsAsciiDigit(At(text, at))) at++;
        return at == digits ? 0 : at - i;
    }

    private static int MatchWord(string text, int i)
    {
        int at = i;
        while (IsWordChar(At(text, at))) at++;
        return at - i;
    }

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static char At(string text, int i) => i < text.Length ? text[i] : '\0';

    private static int Count(string text, int from, int to, char what)
    {
        int n = 0;
        for (int i = from; i < to; i++)
        {
            if (text[i] == what) n++;
        }
        return n;
    }
}
