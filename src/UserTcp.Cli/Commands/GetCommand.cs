using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp get URL -o FILE`: a tiny HTTP/1.1 client over UserTcp. One GET with Connection: close; the body is
/// delimited by Content-Length, chunked coding, or the server's close; a progress bar on stderr when it is a
/// terminal; bytes, time and throughput at the end.
/// </summary>
internal static class GetCommand
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>A parsed http:// URL whose host is an IPv4 address.</summary>
    internal sealed record Target(Ipv4Address Address, ushort Port, string PathAndQuery, string HostHeader)
    {
        public override string ToString() => $"http://{HostHeader}{PathAndQuery}";
    }

    public static Command Create()
    {
        var stackOptions = new StackOptionSet(LogLevel.Warning);
        var url = new Argument<Target>("URL")
        {
            Description = "http://HOST[:PORT]/PATH with HOST an IPv4 address (UserTcp has no DNS), e.g. http://10.77.0.1:8000/file",
            CustomParser = OptionParsers.Text<Target>(ParseUrl),
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "File to write the body to (default, or -: stdout)",
            CustomParser = OptionParsers.Text<string?>(ParseOutput),
        };
        var connectTimeout = ConnectCommand.ConnectTimeoutOption();
        var command = new Command("get",
            "Download URL over UserTcp: create a TUN interface, run a UserTcp stack at --address behind it, send one HTTP/1.1 "
            + "GET and write the body to -o FILE, with a progress bar on stderr; print bytes, time and throughput at the end. "
            + "Exits 1 when the connection fails or the server answers other than 2xx. Run it in a namespace of its own: "
            + "ip netns exec demo usertcp get http://10.77.0.1:8000/file -o file")
        {
            url,
            output,
            connectTimeout,
        };
        stackOptions.AddTo(command);
        command.SetAction(parsed => CliErrors.Run("get", () => RunAsync(
            stackOptions.Read(parsed), parsed.GetRequiredValue(url), parsed.GetValue(output) is "-" ? null : parsed.GetValue(output),
            TimeSpan.FromSeconds(parsed.GetValue(connectTimeout)))));
        return command;
    }

    internal static string? ParseUrl(string text, out Target value)
    {
        value = null!;
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
        {
            return $"URL '{text}' is not an http:// URL: write it as http://a.b.c.d[:port]/path, e.g. http://10.77.0.1:8000/";
        }
        if (uri.Scheme == "https") return $"URL '{text}' is https: usertcp get speaks plain HTTP only; use http://";
        if (uri.HostNameType != UriHostNameType.IPv4 || !Ipv4Address.TryParse(uri.Host, out Ipv4Address address))
        {
            return $"URL '{text}' names host '{uri.Host}': give an IPv4 address (UserTcp has no DNS), e.g. http://10.77.0.1:8000/";
        }
        if (uri.Port is < 1 or > 65535) return $"URL '{text}' has port {uri.Port}: use 1 to 65535";
        string hostHeader = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port.ToString(CultureInfo.InvariantCulture)}";
        value = new Target(address, (ushort)uri.Port, uri.PathAndQuery, hostHeader);
        return null;
    }

    private static string? ParseOutput(string text, out string? value)
    {
        value = text;
        if (text == "-") return null;
        if (text.Length == 0 || Directory.Exists(text)) return $"-o '{text}' is not a file name: give a path such as body.bin (or - for stdout)";
        string? directory = Path.GetDirectoryName(Path.GetFullPath(text));
        return directory is not null && !Directory.Exists(directory) ? $"-o '{text}': directory {directory} does not exist" : null;
    }

    private static async Task<int> RunAsync(StackSettings settings, Target target, string? outputPath, TimeSpan connectTimeout)
    {
        using var signal = new StopSignal();
        await using CommandStack live = CommandStack.Start(settings, new TcpConfig());
        var remote = new IpEndpoint(target.Address, target.Port);
        long started = Stopwatch.GetTimestamp();
        UserTcpConnection connection = await ConnectCommand.OpenAsync(live.Stack, remote, connectTimeout, signal.Token).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            string request = $"GET {target.PathAndQuery} HTTP/1.1\r\nHost: {target.HostHeader}\r\nUser-Agent: usertcp-get\r\n"
                + "Accept: */*\r\nConnection: close\r\n\r\n";
            await connection.WriteAsync(Encoding.ASCII.GetBytes(request), signal.Token).ConfigureAwait(false);
            var response = new ResponseReader(connection, signal.Token);
            (int status, string reason, Dictionary<string, string> headers) = await response.ReadHeadAsync().ConfigureAwait(false);
            if (status is < 200 or > 299)
            {
                string location = headers.TryGetValue("Location", out string? to) ? $" (Location: {to})" : "";
                throw new CliException(1, string.Create(CultureInfo.InvariantCulture, $"{target} answered {status} {reason}{location}"));
            }
            long? length = headers.TryGetValue("Content-Length", out string? cl)
                && long.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
            bool chunked = headers.TryGetValue("Transfer-Encoding", out string? te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            if (status is 204) length = 0;

            Stream output;
            try
            {
                output = outputPath is null ? Console.OpenStandardOutput() : File.Create(outputPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException(1, $"cannot write {outputPath}: {e.Message}");
            }
            long received;
            bool complete = false;
            var progress = new ProgressBar(length);
            try
            {
                await using (output.ConfigureAwait(false))
                {
                    received = chunked
                        ? await response.CopyChunkedAsync(output, progress).ConfigureAwait(false)
                        : await response.CopyAsync(output, length, progress).ConfigureAwait(false);
                }
                complete = true;
            }
            catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
            {
                throw new CliException(130, $"interrupted after {Units.Bytes(progress.Bytes)}");
            }
            catch (IOException e)
            {
                throw new CliException(1, $"writing the body to {outputPath ?? "stdout"} failed after {Units.Bytes(progress.Bytes)}: {e.Message}");
            }
            finally
            {
                progress.Clear();
                if (!complete && outputPath is not null) File.Delete(outputPath);
            }
            TimeSpan took = Stopwatch.GetElapsedTime(started);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"usertcp get: {received} bytes in {Units.Seconds(took)} ({Units.Rate(received, took)}){(outputPath is null ? "" : $" -> {outputPath}")}"));
        }
        return 0;
    }

    /// <summary>Reads the response head and body from the connection through one buffer.</summary>
    private sealed class ResponseReader(UserTcpConnection connection, CancellationToken stop)
    {
        private const int MaxHead = 64 * 1024;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<(int Status, string Reason, Dictionary<string, string> Headers)> ReadHeadAsync()
        {
            while (true)
            {
                string statusLine = await ReadLineAsync().ConfigureAwait(false)
                    ?? throw new CliException(1, "the server closed the connection without answering");
                string[] parts = statusLine.Split(' ', 3);
                if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
                    || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int status))
                {
                    throw new CliException(1, $"the server's answer is not HTTP/1.x: '{(statusLine.Length > 60 ? statusLine[..60] + "..." : statusLine)}'");
                }
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                int headBytes = statusLine.Length;
                string? line;
                while ((line = await ReadLineAsync().ConfigureAwait(false)) is { Length: > 0 })
                {
                    headBytes += line.Length;
                    if (headBytes > MaxHead) throw new CliException(1, "the response head is larger than 64 KiB");
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }
                if (line is null) throw new CliException(1, "the connection closed in the middle of the response head");
                if (status is >= 100 and < 200) continue; // 100 Continue and friends: the real answer follows
                return (status, parts.Length > 2 ? parts[2] : "", headers);
            }
        }

        /// <summary>Copies <paramref name="length"/> bytes, or until the server closes when the length is unknown.</summary>
        public async Task<long> CopyAsync(Stream output, long? length, ProgressBar progress)
        {
            long copied = 0;
            while (length is null || copied < length)
            {
                if (_start == _end && !await FillAsync().ConfigureAwait(false))
                {
                    if (length is null) break;
                    throw new CliException(1, string.Create(CultureInfo.InvariantCulture,
                        $"the server closed after {copied} of {length} bytes"));
                }
                int take = (int)Math.Min(_end - _start, (length ?? long.MaxValue) - copied);
                await output.WriteAsync(_buffer.AsMemory(_start, take), stop).ConfigureAwait(false);
                _start += take;
                copied += take;
                progress.Report(copied);
            }
            return copied;
        }

        /// <summary>Decodes chunked transfer coding (RFC 9112 §7.1); trailers are read and ignored.</summary>
        public async Task<long> CopyChunkedAsync(Stream output, ProgressBar progress)
        {
            long copied = 0;
            while (true)
            {
                string sizeLine = await ReadLineAsync().ConfigureAwait(false) ?? throw new CliException(1, "the server closed in the middle of a chunked body");
                string hex = sizeLine.Split(';', 2)[0].Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long size) || size < 0)
                {
                    throw new CliException(1, $"bad chunk size '{hex}' in the response");
                }
                if (size == 0) break;
                copied += await CopyAsync(output, size, progress.WithOffset(copied)).ConfigureAwait(false);
                if (await ReadLineAsync().ConfigureAwait(false) is not "") throw new CliException(1, "a chunk of the response is not followed by CRLF");
            }
            while (await ReadLineAsync().ConfigureAwait(false) is { Length: > 0 })
            {
                // trailer fields
            }
            return copied;
        }

        private async Task<string?> ReadLineAsync()
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end && !await FillAsync().ConfigureAwait(false)) return line.Length == 0 ? null : line.ToString();
                int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                int stopAt = newline < 0 ? _end : newline;
                line.Append(Encoding.Latin1.GetString(_buffer, _start, stopAt - _start));
                _start = newline < 0 ? _end : newline + 1;
                if (line.Length > MaxHead) throw new CliException(1, "a line of the response is longer than 64 KiB");
                if (newline >= 0) return line.ToString().TrimEnd('\r');
            }
        }

        private async Task<bool> FillAsync()
        {
            _start = 0;
            _end = await connection.ReadAsync(_buffer, stop).ConfigureAwait(false);
            return _end > 0;
        }
    }

    /// <summary>A one-line progress bar on stderr, redrawn at most every 100 ms, only when stderr is a terminal.</summary>
    internal sealed class ProgressBar
    {
        private readonly long? _total;
        private readonly bool _visible = !Console.IsErrorRedirected;
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly ProgressBar? _parent;
        private readonly long _offset;
        private long _lastDraw;

        public ProgressBar(long? total) => _total = total;

        private ProgressBar(ProgressBar parent, long offset)
        {
            _parent = parent;
            _offset = offset;
            _total = parent._total;
        }

        public long Bytes { get; private set; }

        /// <summary>A view that adds <paramref name="offset"/> to what it reports: a chunk's bytes counted into the body's total.</summary>
        public ProgressBar WithOffset(long offset) => new(this, offset);

        public void Report(long bytes)
        {
            if (_parent is not null)
            {
                _parent.Report(_offset + bytes);
                return;
            }
            Bytes = bytes;
            long now = Stopwatch.GetTimestamp();
            if (!_visible || Stopwatch.GetElapsedTime(_lastDraw, now) < ProgressInterval) return;
            _lastDraw = now;
            TimeSpan elapsed = Stopwatch.GetElapsedTime(_started, now);
            string rate = Units.Rate(bytes, elapsed);
            string text;
            if (_total is long total && total > 0)
            {
                double fraction = Math.Min(1, (double)bytes / total);
                int filled = (int)(fraction * 30);
                text = string.Create(CultureInfo.InvariantCulture,
                    $"{fraction * 100,3:F0}% [{new string('#', filled)}{new string('.', 30 - filled)}] {Units.Bytes(bytes)} / {Units.Bytes(total)}  {rate}");
            }
            else
            {
                text = $"{Units.Bytes(bytes)}  {rate}";
            }
            Console.Error.Write($"\r{text,-78}");
        }

        public void Clear()
        {
            if (_parent is null && _visible && _lastDraw != 0) Console.Error.Write($"\r{new string(' ', 78)}\r");
        }
    }
}
