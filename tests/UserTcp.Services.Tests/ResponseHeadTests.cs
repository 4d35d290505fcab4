using System.Net;
using System.Net.Http;
using System.Text;
using UserTcp.Cli.Commands;

namespace UserTcp.Services.Tests;

/// <summary>usertcp get -I writes the response head as the server sent it, like curl -I: one line per header line received.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ResponseHeadTests
{
    [Fact]
    public async Task Headers_are_written_as_received_not_split_into_parsed_values()
    {
        // As SocketsHttpHandler stores them: unparsed until read (python's http.server sends "Server: SimpleHTTP/0.6 Python/3.11.7").
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version11, Content = new ByteArrayContent([]) };
        response.Headers.TryAddWithoutValidation("Server", "SimpleHTTP/0.6 Python/3.11.7");
        response.Headers.TryAddWithoutValidation("Set-Cookie", "a=1");
        response.Headers.TryAddWithoutValidation("Set-Cookie", "b=2");
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "text/plain; charset=utf-8");

        using var output = new MemoryStream();
        long written = await ResponseHead.WriteAsync(response, output, CancellationToken.None);

        string head = Encoding.Latin1.GetString(output.ToArray());
        Assert.Equal(
            "HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n\r\n",
            head);
        Assert.Equal(output.Length, written);
    }
}
