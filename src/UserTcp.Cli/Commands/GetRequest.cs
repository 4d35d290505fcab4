using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;

namespace UserTcp.Cli.Commands;

/// <summary>A request header from -H: "Name: value", or "Name:" to leave out one usertcp get sends by default.</summary>
internal readonly record struct RequestHeader(string Name, string? Value)
{
    /// <summary>RFC 9110 §5.6.2 tchar.</summary>
    public static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);

    /// <summary>Returns null on success, otherwise what is wrong and how to write it.</summary>
    public static string? TryParse(string text, out RequestHeader header)
    {
        header = default;
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = colon < 0 ? text : text[..colon];
        if (colon <= 0 || !name.All(IsTokenChar))
        {
            return $"-H '{text}' is not a header: write it as 'Name: value', e.g. -H 'Accept: text/plain'";
        }
        string value = text[(colon + 1)..].Trim(' ', '\t');
        if (value.Any(c => c is '\r' or '\n')) return $"-H '{name}' has a line break in its value";
        header = new RequestHeader(name, value.Length == 0 ? null : value);
        return null;
    }
}

/// <summary>What `usertcp get` was asked to send, and where the answer goes.</summary>
internal sealed record GetRequest(
    GetCommand.Target Target, string? Method, IReadOnlyList<RequestHeader> Headers, string? Data, string? OutputPath, TimeSpan ConnectTimeout)
{
    /// <summary>
    /// The request as curl would send it: GET (POST with --data, or -X's method), Accept */*, a User-Agent, the -H
    /// headers (content headers go with the body), and Connection: close — one request, and the server closes first, so
    /// its side rather than this short-lived stack holds the TIME-WAIT.
    /// </summary>
    public async Task<HttpRequestMessage> ToMessageAsync(CancellationToken cancellationToken)
    {
        var message = new HttpRequestMessage(new HttpMethod(Method ?? (Data is null ? "GET" : "POST")), Target.Uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Headers.ConnectionClose = true;
        message.Headers.TryAddWithoutValidation("User-Agent", "usertcp-get");
        message.Headers.TryAddWithoutValidation("Accept", "*/*");
        if (Data is not null)
        {
            message.Content = new ByteArrayContent(await ReadDataAsync(Data, cancellationToken).ConfigureAwait(false));
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");
        }
        foreach (RequestHeader header in Headers)
        {
            bool content = IsContentHeader(header.Name);
            if (content && message.Content is null) message.Content = new ByteArrayContent([]);
            HttpHeaders target = content ? message.Content!.Headers : message.Headers;
            // -H replaces what usertcp get would send by default; "Name:" only removes it.
            target.Remove(header.Name);
            if (header.Name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) message.Headers.ConnectionClose = null;
            if (header.Value is not null && !target.TryAddWithoutValidation(header.Name, header.Value))
            {
                throw new CliException(2, $"-H '{header.Name}: {header.Value}' cannot be sent as written");
            }
        }
        return message;
    }

    private static bool IsContentHeader(string name) =>
        name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || name.Equals("Expires", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Last-Modified", StringComparison.OrdinalIgnoreCase) || name.Equals("Allow", StringComparison.OrdinalIgnoreCase);

    /// <summary>--data's bytes: the text itself, @FILE's contents, or @- for all of stdin.</summary>
    private static async Task<byte[]> ReadDataAsync(string data, CancellationToken cancellationToken)
    {
        if (!data.StartsWith('@')) return System.Text.Encoding.UTF8.GetBytes(data);
        string path = data[1..];
        try
        {
            if (path == "-")
            {
                using var stdin = new MemoryStream();
                await Console.OpenStandardInput().CopyToAsync(stdin, cancellationToken).ConfigureAwait(false);
                return stdin.ToArray();
            }
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(2, $"--data {data}: cannot read {path}: {e.Message}");
        }
    }
}
