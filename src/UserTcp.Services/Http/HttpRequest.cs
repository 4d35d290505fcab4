using System.Globalization;
using System.Text;

namespace UserTcp.Services;

/// <summary>A parsed HTTP/1.x request head (RFC 9112 §3, §5).</summary>
internal sealed record HttpRequest(string Method, string Target, string Path, int MinorVersion, bool KeepAlive, long ContentLength)
{
    /// <summary>Parses a request head: the request line and header lines, each ended by CRLF (or a bare LF).</summary>
    /// <exception cref="HttpProtocolException">The head is malformed (400), uses an unknown version (505) or a transfer coding (501).</exception>
    public static HttpRequest Parse(ReadOnlySpan<byte> head)
    {
        string text = Encoding.Latin1.GetString(head);
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].EndsWith('\r')) lines[i] = lines[i][..^1];
            foreach (char c in lines[i])
            {
                if ((c < ' ' && c != '\t') || c == 0x7f) throw new HttpProtocolException(400, "control character in the request head");
            }
        }

        string[] requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0].Length == 0 || requestLine[1].Length == 0 || !IsToken(requestLine[0]))
        {
            throw new HttpProtocolException(400, "the request line is not 'METHOD TARGET HTTP/1.x'");
        }
        string method = requestLine[0], target = requestLine[1], version = requestLine[2];
        int minor = version switch
        {
            "HTTP/1.1" => 1,
            "HTTP/1.0" => 0,
            _ when version.Length == 8 && version.StartsWith("HTTP/", StringComparison.Ordinal) && char.IsAsciiDigit(version[5])
                && version[6] == '.' && char.IsAsciiDigit(version[7]) => throw new HttpProtocolException(505, $"{version} is not supported; speak HTTP/1.1"),
            _ => throw new HttpProtocolException(400, $"'{version}' is not an HTTP version"),
        };

        int hosts = 0;
        long? contentLength = null;
        bool close = false, keepAlive = false;
        foreach (string line in lines.Skip(1))
        {
            if (line.Length == 0) continue; // the empty line that ends the head
            if (line[0] is ' ' or '\t') throw new HttpProtocolException(400, "obsolete header line folding");
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !IsToken(line[..colon])) throw new HttpProtocolException(400, $"malformed header line '{Truncate(line)}'");
            string name = line[..colon];
            string value = line[(colon + 1)..].Trim(' ', '\t');
            if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                hosts++;
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Length == 0 || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long length)
                    || (contentLength is long earlier && earlier != length))
                {
                    throw new HttpProtocolException(400, $"bad Content-Length '{Truncate(value)}'");
                }
                contentLength = length;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                throw new HttpProtocolException(501, "request bodies with a Transfer-Encoding are not supported");
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                foreach (string option in value.Split(',', StringSplitOptions.TrimEntries))
                {
                    close |= option.Equals("close", StringComparison.OrdinalIgnoreCase);
                    keepAlive |= option.Equals("keep-alive", StringComparison.OrdinalIgnoreCase);
                }
            }
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host is answered 400.
        if (minor == 1 && hosts != 1) throw new HttpProtocolException(400, hosts == 0 ? "HTTP/1.1 request without Host" : "more than one Host header");
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        bool persistent = !close && (minor == 1 || keepAlive);
        return new HttpRequest(method, target, PathOf(target), minor, persistent, contentLength ?? 0);
    }

    /// <summary>The path of an origin-form ("/a?b") or absolute-form ("http://host/a?b") target, without the query.</summary>
    private static string PathOf(string target)
    {
        string path = target;
        int scheme = path.IndexOf("://", StringComparison.Ordinal);
        if (!path.StartsWith('/') && scheme > 0)
        {
            int slash = path.IndexOf('/', scheme + 3);
            path = slash < 0 ? "/" : path[slash..];
        }
        int query = path.IndexOfAny(['?', '#']);
        return query < 0 ? path : path[..query];
    }

    // RFC 9110 §5.6.2 tchar.
    private static bool IsToken(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "...";
}

/// <summary>A request this server answers with an error status and then closes.</summary>
internal sealed class HttpProtocolException : Exception
{
    public HttpProtocolException(int status, string message) : base(message) => Status = status;

    public HttpProtocolException() : this(400, "bad request") { }

    public HttpProtocolException(string message) : this(400, message) { }

    public HttpProtocolException(string message, Exception innerException) : base(message, innerException) => Status = 400;

    public int Status { get; }
}
