using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using UserTcp.Sockets;

namespace UserTcp.Services.Tests;

/// <summary>One HTTP response as the test client read it; the body is kept only as its length and SHA-256 (and text when small).</summary>
public sealed record HttpTestResponse(int Status, IReadOnlyDictionary<string, string> Headers, long BodyLength, byte[] BodySha256, string? BodyText);

/// <summary>A deliberately literal HTTP/1.1 client over a UserTcp connection: writes raw requests, reads responses by Content-Length.</summary>
public sealed class HttpTestClient(UserTcpConnection connection, CancellationToken token)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public UserTcpConnection Connection => connection;

    public async Task SendAsync(string request) => await connection.WriteAsync(Encoding.ASCII.GetBytes(request), token);

    public static string Get(string path, string extra = "") => $"GET {path} HTTP/1.1\r\nHost: 10.0.0.2\r\n{extra}\r\n";

    /// <summary>Reads one response; <paramref name="head"/> for a response to HEAD (no body whatever Content-Length says).</summary>
    public async Task<HttpTestResponse> ReadResponseAsync(bool head = false)
    {
        string statusLine = await ReadLineAsync() ?? throw new EndOfStreamException("the connection closed before a response");
        Assert.StartsWith("HTTP/1.1 ", statusLine, StringComparison.Ordinal);
        int status = int.Parse(statusLine.AsSpan(9, 3), CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? line;
        while ((line = await ReadLineAsync()) is { Length: > 0 })
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon]] = line[(colon + 1)..].Trim();
        }
        long length = long.Parse(headers["Content-Length"], CultureInfo.InvariantCulture);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var small = new MemoryStream();
        for (long left = head ? 0 : length; left > 0;)
        {
            if (_start == _end && !await FillAsync()) throw new EndOfStreamException($"body ended {left} bytes short of {length}");
            int take = (int)Math.Min(left, _end - _start);
            hash.AppendData(_buffer, _start, take);
            if (small.Length < 4096) small.Write(_buffer, _start, take);
            _start += take;
            left -= take;
        }
        string? text = length <= 4096 && !head ? Encoding.UTF8.GetString(small.ToArray()) : null;
        return new HttpTestResponse(status, headers, head ? 0 : length, hash.GetHashAndReset(), text);
    }

    /// <summary>True when the server has closed: nothing more arrives, then end of stream.</summary>
    public async Task<bool> ServerClosedAsync() => _start == _end && !await FillAsync();

    private async Task<string?> ReadLineAsync()
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync()) return line.Length == 0 ? null : throw new EndOfStreamException("end of stream in a line");
            byte b = _buffer[_start++];
            if (b == '\n') return line.ToString().TrimEnd('\r');
            line.Append((char)b);
        }
    }

    private async Task<bool> FillAsync()
    {
        _start = 0;
        _end = await connection.ReadAsync(_buffer, token);
        return _end > 0;
    }
}
