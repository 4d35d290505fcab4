using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Sockets.Http;
using UserTcp.Wire;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp get URL`: curl over UserTcp. HttpClient does the HTTP (<see cref="UserTcpHttp"/> opens its connection on
/// the command's stack); this command reads curl's options (-o, -H, -I/--head, -X, -d/--data), writes the body or,
/// for --head, the response head, shows a progress bar on stderr when it is a terminal, and ends with bytes, time and
/// throughput. Redirects are not followed (as curl without -L); an answer other than 2xx exits 1 (as curl --fail).
/// </summary>
internal static class GetCommand
{
    /// <summary>A parsed http:// URL whose host is an IPv4 address.</summary>
    internal sealed record Target(Uri Uri, Ipv4Address Address, ushort Port)
    {
        public override string ToString() => Uri.ToString();
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
            Description = "File to write the body (with --head: the response head) to (default, or -: stdout)",
            CustomParser = OptionParsers.Text<string?>(ParseOutput),
        };
        var headers = new Option<RequestHeader[]>("--header", "-H")
        {
            Description = "Send this header, 'Name: value' (repeatable); 'Name:' leaves out a header usertcp get would send (Accept, User-Agent)",
            Arity = ArgumentArity.ZeroOrMore,
            CustomParser = ParseHeaders,
        };
        var head = new Option<bool>("--head", "-I")
        {
            Description = "Send HEAD and write the response's status line and headers instead of a body",
        };
        var method = new Option<string?>("--request", "-X")
        {
            Description = "The request method (default GET, or POST with --data), e.g. -X PUT",
            CustomParser = OptionParsers.Text<string?>(ParseMethod),
        };
        var data = new Option<string?>("--data", "-d")
        {
            Description = "Send this request body, as is: TEXT, @FILE or @- for stdin; makes the request a POST with "
                + "Content-Type application/x-www-form-urlencoded unless -X or -H say otherwise",
            CustomParser = OptionParsers.Text<string?>(ParseData),
        };
        var connectTimeout = ConnectCommand.ConnectTimeoutOption();
        var fastOpen = FastOpenCookieFile.Option();
        var command = new Command("get",
            "HTTP over UserTcp, curl's way: create a TUN interface, run a UserTcp stack at --address behind it, send one request "
            + "with HttpClient over the stack and write the body to -o FILE (default stdout), with a progress bar on stderr; "
            + "print bytes, time and throughput at the end. Exits 1 when the connection fails or the server answers other than "
            + "2xx. Run it in a namespace of its own: ip netns exec demo usertcp get http://10.77.0.1:8000/file -o file")
        {
            url,
            output,
            headers,
            head,
            method,
            data,
            connectTimeout,
            fastOpen,
        };
        stackOptions.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(head) && result.GetValue(data) is not null)
            {
                result.AddError("--head sends no body: leave out --data, or choose the method with -X");
            }
            if (result.GetValue(head) && result.GetValue(method) is string m && m != "HEAD")
            {
                result.AddError($"--head and -X {m} each choose the method: give one of them");
            }
        });
        command.SetAction(parsed => CliErrors.Run("get", () => RunAsync(stackOptions.Read(parsed), new GetRequest(
            parsed.GetRequiredValue(url),
            parsed.GetValue(head) ? "HEAD" : parsed.GetValue(method),
            parsed.GetValue(headers) ?? [],
            parsed.GetValue(data),
            parsed.GetValue(output) is "-" ? null : parsed.GetValue(output),
            TimeSpan.FromSeconds(parsed.GetValue(connectTimeout))), parsed.GetValue(fastOpen))));
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
        value = new Target(uri, address, (ushort)uri.Port);
        return null;
    }

    private static string? ParseOutput(string text, out string? value)
    {
        value = text;
        return text == "-" ? null : OptionParsers.NewFileProblem("-o", text, "body.bin (or - for stdout)");
    }

    private static string? ParseData(string text, out string? value)
    {
        value = text;
        if (!text.StartsWith('@') || text == "@-") return null;
        if (File.Exists(text[1..])) return null;
        return Directory.Exists(text[1..])
            ? $"--data {text}: {text[1..]} is a directory, not a file (give @FILE, @- for stdin, or the text itself)"
            : $"--data {text}: there is no file {text[1..]} (give @FILE, @- for stdin, or the text itself)";
    }

    private static string? ParseMethod(string text, out string? value)
    {
        value = text;
        // RFC 9110 §9.1: a method is a token.
        return text.Length > 0 && text.All(RequestHeader.IsTokenChar) ? null : $"-X '{text}' is not a method: give a word such as PUT or DELETE";
    }

    private static RequestHeader[] ParseHeaders(ArgumentResult result)
    {
        var headers = new List<RequestHeader>();
        foreach (Token token in result.Tokens)
        {
            if (RequestHeader.TryParse(token.Value, out RequestHeader header) is string problem) result.AddError(problem);
            else headers.Add(header);
        }
        return [.. headers];
    }

    private static async Task<int> RunAsync(StackSettings settings, GetRequest request, bool fastOpen)
    {
        // The engine's secrets are new per run (RFC 6528, RFC 6056), so a second get does not reuse the first one's port
        // and ISN, which the server may still hold in TIME-WAIT.
        await using CommandStack live = CommandStack.Start(settings, new TcpConfig());
        if (!fastOpen) return await RequestAsync(live, request, fastOpen).ConfigureAwait(false);
        FastOpenCookieFile.Load(live.Stack.FastOpenCookies, FastOpenCookieFile.DefaultPath);
        try
        {
            return await RequestAsync(live, request, fastOpen).ConfigureAwait(false);
        }
        finally
        {
            FastOpenCookieFile.Save(live.Stack.FastOpenCookies, FastOpenCookieFile.DefaultPath);
        }
    }

    private static async Task<int> RequestAsync(CommandStack live, GetRequest request, bool fastOpen)
    {
        using var signal = new StopSignal();
        // --fast-open: with a cookie cached, the connection's first write (the request) rides in its SYN.
        SocketsHttpHandler handler = UserTcpHttp.CreateHandler(live.Stack,
            new UserTcpHttpOptions { Connection = new UserTcpConnectionOptions { NoDelay = true, FastOpenConnect = fastOpen } });
        handler.ConnectTimeout = request.ConnectTimeout;
        handler.AllowAutoRedirect = false; // as curl without -L: a redirect is an answer to show, not to follow
        using var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        string remote = $"{request.Target.Address}:{request.Target.Port.ToString(CultureInfo.InvariantCulture)}";
        long started = Stopwatch.GetTimestamp();

        using HttpRequestMessage message = await request.ToMessageAsync(signal.Token).ConfigureAwait(false);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, signal.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException socket)
        {
            throw new CliException(1, $"connection to {remote} failed: {CliErrors.Describe(socket.SocketErrorCode)}");
        }
        catch (HttpRequestException e)
        {
            throw new CliException(1, $"{request.Target} failed: {e.Message}");
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new CliException(1, string.Create(CultureInfo.InvariantCulture,
                $"connection to {remote} timed out after {request.ConnectTimeout.TotalSeconds} s (nothing answered the SYN)"));
        }
        catch (OperationCanceledException) when (signal.Token.IsCancellationRequested)
        {
            throw new CliException(130, $"{request.Target} interrupted");
        }

        using (response)
        {
            bool success = response.IsSuccessStatusCode;
            if (!success && message.Method != HttpMethod.Head)
            {
                string location = response.Headers.Location is { } to ? $" (Location: {to})" : "";
                throw new CliException(1, string.Create(CultureInfo.InvariantCulture,
                    $"{request.Target} answered {(int)response.StatusCode} {response.ReasonPhrase}{location}"));
            }
            long written = await WriteOutputAsync(request, response, signal.Token).ConfigureAwait(false);
            TimeSpan took = Stopwatch.GetElapsedTime(started);
            string what = message.Method == HttpMethod.Head ? "head" : "bytes";
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"usertcp get: {written} {what} in {Units.Seconds(took)} ({Units.Rate(written, took)}){(request.OutputPath is null ? "" : $" -> {request.OutputPath}")}"));
            if (!success)
            {
                throw new CliException(1, string.Create(CultureInfo.InvariantCulture, $"{request.Target} answered {(int)response.StatusCode} {response.ReasonPhrase}"));
            }
        }
        return 0;
    }

    /// <summary>Writes the body (or, for HEAD, the response head) to the output; returns the bytes written.</summary>
    private static async Task<long> WriteOutputAsync(GetRequest request, HttpResponseMessage response, CancellationToken stop)
    {
        Stream output;
        // Only a file this run made is removed when the body does not arrive whole: an existing one (a file the user
        // had, /dev/null, a FIFO) is never deleted, and keeps what arrived, as curl leaves it.
        bool created = request.OutputPath is not null && !Path.Exists(request.OutputPath);
        try
        {
            output = request.OutputPath is null ? StandardOutput.Open() : File.Create(request.OutputPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(1, $"cannot write {request.OutputPath}: {e.Message}");
        }
        var progress = new ProgressBar(response.RequestMessage?.Method == HttpMethod.Head ? 0 : response.Content.Headers.ContentLength);
        bool complete = false;
        try
        {
            await using (output.ConfigureAwait(false))
            {
                long written = response.RequestMessage?.Method == HttpMethod.Head
                    ? await ResponseHead.WriteAsync(response, output, stop).ConfigureAwait(false)
                    : await CopyBodyAsync(response, output, progress, stop).ConfigureAwait(false);
                complete = true;
                return written;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            throw new CliException(130, $"interrupted after {Units.Bytes(progress.Bytes)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The head's write (the body's own are turned into one line in CopyBodyAsync): a closed pipe, a full disk.
            throw new CliException(1, $"writing the output failed: {e.Message}");
        }
        finally
        {
            progress.Clear();
            if (!complete && created) File.Delete(request.OutputPath!);
        }
    }

    private static async Task<long> CopyBodyAsync(HttpResponseMessage response, Stream output, ProgressBar progress, CancellationToken stop)
    {
        long? length = response.Content.Headers.ContentLength;
        Stream body = await response.Content.ReadAsStreamAsync(stop).ConfigureAwait(false);
        byte[] buffer = new byte[64 * 1024];
        long copied = 0;
        while (true)
        {
            int read;
            try
            {
                read = await body.ReadAsync(buffer, stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !stop.IsCancellationRequested)
            {
                // HttpClient checks the framing: a body shorter than its Content-Length, or a chunked body cut short.
                string of = length is long n ? string.Create(CultureInfo.InvariantCulture, $" of {n}") : "";
                throw new CliException(1, string.Create(CultureInfo.InvariantCulture, $"the body broke off after {copied}{of} bytes: {e.Message}"));
            }
            if (read == 0) return copied;
            try
            {
                await output.WriteAsync(buffer.AsMemory(0, read), stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) // a closed pipe; EBADF reads as access denied
            {
                throw new CliException(1, $"writing the body failed after {Units.Bytes(copied)}: {e.Message}");
            }
            copied += read;
            progress.Report(copied);
        }
    }
}
