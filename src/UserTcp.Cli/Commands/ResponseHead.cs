using System.Globalization;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;

namespace UserTcp.Cli.Commands;

/// <summary>A response's status line and headers as curl -I prints them (CRLF line ends, a blank line at the end).</summary>
internal static class ResponseHead
{
    public static async Task<long> WriteAsync(HttpResponseMessage response, Stream output, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"HTTP/{response.Version.ToString(2)} {(int)response.StatusCode} {response.ReasonPhrase}\r\n");
        // NonValidated: the values as received; the parsed view splits "Server: a b" into two product tokens.
        foreach ((string name, HeaderStringValues values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            foreach (string value in values) head.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        head.Append("\r\n");
        byte[] bytes = Encoding.Latin1.GetBytes(head.ToString());
        await output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes.Length;
    }
}
