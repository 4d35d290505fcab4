using System.Globalization;
using System.Text;

namespace UserTcp.Script;

/// <summary>
/// One command of a back-quoted block, as the runner understands it. Upstream scripts configure the kernel with a
/// handful of shell idioms (<c>sysctl -q</c>, <c>set_sysctls.py</c>, <c>defaults.sh</c>, <c>ip route</c>, <c>tc</c>,
/// <c>ethtool</c>); each has a typed form here, and everything else is an <see cref="OtherCommand"/>.
/// </summary>
public abstract record ShellCommand(string Text)
{
    public override string ToString() => Text;
}

/// <summary>A sysctl write, normalised to its dotted name (<c>net.ipv4.tcp_sack</c>) and its value as written.</summary>
public readonly record struct SysctlAssignment(string Name, string Value)
{
    public override string ToString() => $"{Name}={Value}";
}

/// <summary>
/// <c>sysctl -q net.ipv4.tcp_sack=1 ...</c>, <c>echo 1 &gt; /proc/sys/net/ipv4/tcp_sack</c>, or packetdrill's
/// <c>set_sysctls.py /proc/sys/net/ipv4/tcp_sack=1 ...</c> (<see cref="SavesForRestore"/>: it also writes a script that
/// puts the old values back).
/// </summary>
public sealed record SysctlCommand(string Text, IReadOnlyList<SysctlAssignment> Settings, bool SavesForRestore) : ShellCommand(Text)
{
    public bool Equals(SysctlCommand? other) => other is not null && Text == other.Text && SavesForRestore == other.SavesForRestore && Settings.SequenceEqual(other.Settings);
    public override int GetHashCode() => Text.GetHashCode(StringComparison.Ordinal);
}

/// <summary><c>/tmp/sysctl_restore_${PPID}.sh</c>: puts back what the last <c>set_sysctls.py</c> changed.</summary>
public sealed record RestoreSysctlsCommand(string Text) : ShellCommand(Text);

/// <summary><c>../common/defaults.sh</c>: another shell file, read relative to the script's directory.</summary>
public sealed record RunFileCommand(string Text, string Path) : ShellCommand(Text);

/// <summary>One metric of an <c>ip route</c> command: <c>advmss 1100</c>, <c>mtu lock 1140</c>, <c>initcwnd 11</c>.</summary>
public readonly record struct RouteMetric(string Name, string Value, bool Locked)
{
    public override string ToString() => Locked ? $"{Name} lock {Value}" : $"{Name} {Value}";
}

/// <summary><c>ip route change 192.0.2.1 via ... dev tun0 advmss 1100 mtu lock 1140</c>: per-destination TCP metrics.</summary>
public sealed record RouteCommand(string Text, string Destination, bool Ipv6, IReadOnlyList<RouteMetric> Metrics) : ShellCommand(Text)
{
    public bool Equals(RouteCommand? other) => other is not null && Text == other.Text && Destination == other.Destination && Ipv6 == other.Ipv6 && Metrics.SequenceEqual(other.Metrics);
    public override int GetHashCode() => Text.GetHashCode(StringComparison.Ordinal);
}

/// <summary><c>tc qdisc add|replace|delete dev tun0 root pfifo [limit N]</c>: the queue in front of the test device.</summary>
public sealed record QdiscCommand(string Text, string Action, string? Kind, long? Limit) : ShellCommand(Text);

/// <summary><c>ethtool -K tun0 gso off tso off</c>: segmentation offloads.</summary>
public sealed record OffloadCommand(string Text, IReadOnlyList<(string Feature, bool On)> Features) : ShellCommand(Text)
{
    public bool Equals(OffloadCommand? other) => other is not null && Text == other.Text && Features.SequenceEqual(other.Features);
    public override int GetHashCode() => Text.GetHashCode(StringComparison.Ordinal);
}

/// <summary><c>ip tcp_metrics flush all</c>: forget cached per-destination metrics (and Fast Open cookies).</summary>
public sealed record FlushMetricsCommand(string Text) : ShellCommand(Text);

/// <summary><c>echo 0 &gt; /sys/module/tcp_cubic/parameters/hystart_detect</c>: a kernel module parameter.</summary>
public sealed record ModuleParameterCommand(string Text, string Module, string Parameter, string Value) : ShellCommand(Text);

/// <summary>Anything else: a command the runner has no equivalent for.</summary>
public sealed record OtherCommand(string Text) : ShellCommand(Text);

/// <summary>
/// Reads the text of a back-quoted block (or of a shell file it runs) into commands: backslash-newline joins lines,
/// <c>#</c> starts a comment, <c>;</c> <c>&amp;&amp;</c> <c>||</c> and newlines separate commands, quotes group words,
/// <c>$((...))</c> is evaluated, and redirections are set apart from the words. A pipeline stays one command.
/// </summary>
public static class ShellReader
{
    public static IReadOnlyList<ShellCommand> Read(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var commands = new List<ShellCommand>();
        foreach (SimpleCommand simple in Split(text.Replace("\\\r\n", " ", StringComparison.Ordinal).Replace("\\\n", " ", StringComparison.Ordinal)))
        {
            commands.Add(Classify(simple));
        }
        return commands;
    }

    /// <summary>A command's words (quotes removed, expansions done), its redirections, and its text as written.</summary>
    private sealed record SimpleCommand(string Text, List<string> Words, List<(string Operator, string Target)> Redirections, bool Pipeline);

    private static List<SimpleCommand> Split(string text)
    {
        var commands = new List<SimpleCommand>();
        var words = new List<string>();
        var redirections = new List<(string, string)>();
        bool pipeline = false;
        int start = 0;
        int i = 0;

        void End(int at)
        {
            string written = text[start..at].Trim();
            if (words.Count > 0) commands.Add(new SimpleCommand(written, [.. words], [.. redirections], pipeline));
            words.Clear();
            redirections.Clear();
            pipeline = false;
        }

        while (i < text.Length)
        {
            char c = text[i];
            if (c is '\n' or ';')
            {
                End(i);
                start = ++i;
                continue;
            }
            if ((c == '&' && At(text, i + 1) == '&') || (c == '|' && At(text, i + 1) == '|'))
            {
                End(i);
                i += 2;
                start = i;
                continue;
            }
            if (c == '|')
            {
                pipeline = true;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (c == '#')
            {
                int end = text.IndexOf('\n', i);
                End(i);
                i = end < 0 ? text.Length : end;
                start = i;
                continue;
            }
            if (Redirection(text, ref i) is string op)
            {
                while (i < text.Length && text[i] is ' ' or '\t') i++;
                string target = op.EndsWith('&') ? "" : Word(text, ref i);
                redirections.Add((op, target));
                continue;
            }
            words.Add(Word(text, ref i));
        }
        End(text.Length);
        return commands;
    }

    /// <summary><c>&gt;</c>, <c>&gt;&gt;</c>, <c>2&gt;</c>, <c>&amp;&gt;</c>, <c>2&gt;&amp;1</c> at <paramref name="i"/>, or null.</summary>
    private static string? Redirection(string text, ref int i)
    {
        int at = i;
        if (At(text, at) == '&' && At(text, at + 1) == '>') at++;
        else while (char.IsAsciiDigit(At(text, at))) at++;
        if (At(text, at) != '>') return null;
        at++;
        if (At(text, at) == '>') at++;
        if (At(text, at) == '&')
        {
            at++;
            while (char.IsAsciiDigit(At(text, at))) at++;
            string dup = text[i..at];
            i = at;
            return dup + "&";
        }
        string op = text[i..at];
        i = at;
        return op;
    }

    /// <summary>One word: quotes removed, <c>$((...))</c> evaluated, <c>$VAR</c> and <c>${VAR}</c> kept as written.</summary>
    private static string Word(string text, ref int i)
    {
        var word = new StringBuilder();
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c) || c is ';' or '|' or '>' or '<' || (c == '&' && At(text, i + 1) is '&' or '>')) break;
            if (c is '\'' or '"')
            {
                int end = text.IndexOf(c, i + 1);
                if (end < 0) end = text.Length;
                string quoted = text[(i + 1)..end];
                word.Append(c == '"' ? Expand(quoted) : quoted);
                i = Math.Min(end + 1, text.Length);
                continue;
            }
            if (c == '$' && At(text, i + 1) == '(' && At(text, i + 2) == '(')
            {
                int end = text.IndexOf("))", i + 3, StringComparison.Ordinal);
                if (end < 0) end = text.Length - 2;
                word.Append(Expand(text[i..(end + 2)]));
                i = end + 2;
                continue;
            }
            word.Append(c);
            i++;
        }
        return word.ToString();
    }

    /// <summary>Arithmetic expansion <c>$((15*1024*1024))</c> inside a word; anything unreadable stays as written.</summary>
    private static string Expand(string text)
    {
        var result = new StringBuilder();
        int i = 0;
        while (i < text.Length)
        {
            int open = text.IndexOf("$((", i, StringComparison.Ordinal);
            if (open < 0)
            {
                result.Append(text, i, text.Length - i);
                break;
            }
            int close = text.IndexOf("))", open + 3, StringComparison.Ordinal);
            if (close < 0)
            {
                result.Append(text, i, text.Length - i);
                break;
            }
            result.Append(text, i, open - i);
            string expression = text[(open + 3)..close];
            result.Append(Arithmetic.TryEvaluate(expression, out long value) ? value.ToString(CultureInfo.InvariantCulture) : text[open..(close + 2)]);
            i = close + 2;
        }
        return result.ToString();
    }

    private static char At(string text, int i) => i < text.Length ? text[i] : '\0';

    // ───────────── what each command is ─────────────

    private static ShellCommand Classify(SimpleCommand command)
    {
        List<string> w = command.Words;
        string text = command.Text;
        if (command.Pipeline) return new OtherCommand(text);
        string program = w[0];
        if (program == "sysctl") return Sysctl(command);
        if (program.EndsWith("set_sysctls.py", StringComparison.Ordinal))
        {
            var settings = w.Skip(1).Select(ProcSetting).ToList();
            return settings.All(s => s is not null) && settings.Count > 0
                ? new SysctlCommand(text, settings.Select(s => s!.Value).ToList(), SavesForRestore: true)
                : new OtherCommand(text);
        }
        if (w.Count == 1 && program.StartsWith("/tmp/sysctl_restore_", StringComparison.Ordinal) && program.EndsWith(".sh", StringComparison.Ordinal))
        {
            return new RestoreSysctlsCommand(text);
        }
        if (program == "echo" && w.Count == 2 && command.Redirections is [(">", string target)])
        {
            if (ProcSetting(target + "=" + w[1]) is SysctlAssignment setting) return new SysctlCommand(text, [setting], SavesForRestore: false);
            string[] parts = target.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts is ["sys", "module", string module, "parameters", string parameter]) return new ModuleParameterCommand(text, module, parameter, w[1]);
        }
        if (w.Count == 1 && program.EndsWith(".sh", StringComparison.Ordinal) && !program.Contains('$', StringComparison.Ordinal))
        {
            return new RunFileCommand(text, program);
        }
        if (program == "ip") return Ip(command);
        if (program == "tc" && w.Count >= 2 && w[1] == "qdisc") return Qdisc(command);
        if (program == "ethtool" && w.Count >= 4 && w[1] == "-K")
        {
            var features = new List<(string, bool)>();
            for (int i = 3; i + 1 < w.Count; i += 2)
            {
                if (w[i + 1] is not ("on" or "off")) return new OtherCommand(text);
                features.Add((w[i], w[i + 1] == "on"));
            }
            return new OffloadCommand(text, features);
        }
        return new OtherCommand(text);
    }

    private static ShellCommand Sysctl(SimpleCommand command)
    {
        var settings = new List<SysctlAssignment>();
        foreach (string word in command.Words.Skip(1))
        {
            if (word.StartsWith('-'))
            {
                if (word.Trim('-').All(f => f is 'q' or 'e' or 'w')) continue;
                return new OtherCommand(command.Text);
            }
            int equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0) return new OtherCommand(command.Text); // a read: changes nothing, but the runner prints nothing either
            settings.Add(new SysctlAssignment(SysctlName(word[..equals]), word[(equals + 1)..].Trim()));
        }
        return settings.Count > 0 ? new SysctlCommand(command.Text, settings, SavesForRestore: false) : new OtherCommand(command.Text);
    }

    /// <summary><c>/proc/sys/net/ipv4/tcp_sack=1</c> as a setting; null for another path.</summary>
    private static SysctlAssignment? ProcSetting(string word)
    {
        const string Proc = "/proc/sys/";
        int equals = word.IndexOf('=', StringComparison.Ordinal);
        if (!word.StartsWith(Proc, StringComparison.Ordinal) || equals < 0) return null;
        return new SysctlAssignment(SysctlName(word[Proc.Length..equals]), word[(equals + 1)..].Trim());
    }

    /// <summary>sysctl accepts both <c>net.ipv4.tcp_sack</c> and <c>net/ipv4/tcp_sack</c>.</summary>
    public static string SysctlName(string name) => name.Trim().Trim('/').Replace('/', '.');

    private static ShellCommand Ip(SimpleCommand command)
    {
        List<string> w = command.Words;
        int at = 1;
        bool ipv6 = false;
        while (at < w.Count && w[at].StartsWith('-'))
        {
            if (w[at] == "-6") ipv6 = true;
            at++;
        }
        if (at < w.Count && w[at] == "tcp_metrics" && at + 1 < w.Count && w[at + 1] is "flush" or "delete") return new FlushMetricsCommand(command.Text);
        if (at + 2 >= w.Count || w[at] != "route" || w[at + 1] is not ("change" or "replace" or "add" or "append")) return new OtherCommand(command.Text);
        string destination = w[at + 2];
        var metrics = new List<RouteMetric>();
        for (int i = at + 3; i < w.Count; i++)
        {
            string name = w[i];
            if (name is "via" or "dev" or "src" or "proto" or "scope" or "table" or "metric")
            {
                i++; // the route itself, not a TCP metric
                continue;
            }
            bool locked = i + 1 < w.Count && w[i + 1] == "lock";
            if (locked) i++;
            if (i + 1 >= w.Count) return new OtherCommand(command.Text);
            metrics.Add(new RouteMetric(name, w[++i], locked));
        }
        return new RouteCommand(command.Text, destination, ipv6, metrics);
    }

    private static ShellCommand Qdisc(SimpleCommand command)
    {
        List<string> w = command.Words;
        if (w.Count < 3) return new OtherCommand(command.Text);
        string action = w[2] == "del" ? "delete" : w[2];
        int root = w.IndexOf("root");
        if (action is not ("add" or "replace" or "change" or "delete") || root < 0) return new OtherCommand(command.Text);
        string? kind = root + 1 < w.Count ? w[root + 1] : null;
        long? limit = null;
        int limitAt = w.IndexOf("limit");
        if (limitAt > 0 && limitAt + 1 < w.Count)
        {
            if (!long.TryParse(w[limitAt + 1], NumberStyles.None, CultureInfo.InvariantCulture, out long value)) return new OtherCommand(command.Text);
            limit = value;
        }
        return new QdiscCommand(command.Text, action, action == "delete" ? null : kind, limit);
    }
}

/// <summary>Shell arithmetic as upstream scripts use it: integers, + - * / %, parentheses.</summary>
internal static class Arithmetic
{
    public static bool TryEvaluate(string text, out long value)
    {
        int i = 0;
        try
        {
            value = Sum(text, ref i);
            Skip(text, ref i);
            return i == text.Length;
        }
        catch (FormatException)
        {
            value = 0;
            return false;
        }
        catch (DivideByZeroException)
        {
            value = 0;
            return false;
        }
    }

    private static long Sum(string t, ref int i)
    {
        long left = Product(t, ref i);
        while (Peek(t, ref i) is '+' or '-')
        {
            char op = t[i++];
            long right = Product(t, ref i);
            left = op == '+' ? left + right : left - right;
        }
        return left;
    }

    private static long Product(string t, ref int i)
    {
        long left = Atom(t, ref i);
        while (Peek(t, ref i) is '*' or '/' or '%')
        {
            char op = t[i++];
            long right = Atom(t, ref i);
            left = op switch { '*' => left * right, '/' => left / right, _ => left % right };
        }
        return left;
    }

    private static long Atom(string t, ref int i)
    {
        char c = Peek(t, ref i);
        if (c == '(')
        {
            i++;
            long inner = Sum(t, ref i);
            if (Peek(t, ref i) != ')') throw new FormatException();
            i++;
            return inner;
        }
        if (c == '-')
        {
            i++;
            return -Atom(t, ref i);
        }
        int start = i;
        while (i < t.Length && char.IsAsciiDigit(t[i])) i++;
        if (start == i) throw new FormatException();
        return long.Parse(t.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    private static char Peek(string t, ref int i)
    {
        Skip(t, ref i);
        return i < t.Length ? t[i] : '\0';
    }

    private static void Skip(string t, ref int i)
    {
        while (i < t.Length && char.IsWhiteSpace(t[i])) i++;
    }
}
