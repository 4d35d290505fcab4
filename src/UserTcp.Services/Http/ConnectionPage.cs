using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// The HTTP service's index page: the endpoints, then the stack's connection table at this moment — listeners, then
/// connections by port and peer, with RFC state names, queues, the armed timer, retransmissions, RTO and cwnd.
/// Browsers (Accept: text/html) get an HTML table that refreshes every second; everyone else aligned plain text.
/// </summary>
internal static class ConnectionPage
{
    private static readonly string[] Header = ["State", "Recv-Q", "Send-Q", "Local", "Peer", "Timer", "Retrans", "RTO", "cwnd"];

    public static Task WriteAsync(HttpContext http, NetStack stack, string index)
    {
        string[][] rows = [.. Rows(stack)];
        bool html = http.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase));
        http.Response.Headers.CacheControl = "no-store";
        string title = $"UserTcp HTTP server at {stack.Address} (ASP.NET Core on the UserTcp transport)";
        string now = DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
        http.Response.ContentType = html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8";
        byte[] body = Encoding.UTF8.GetBytes(html ? Html(title, index, now, rows) : Text(title, index, now, rows));
        http.Response.ContentLength = body.Length;
        return HttpMethods.IsHead(http.Request.Method) ? Task.CompletedTask : http.Response.Body.WriteAsync(body, http.RequestAborted).AsTask();
    }

    /// <summary>One row of cells per listener and connection.</summary>
    private static IEnumerable<string[]> Rows(NetStack stack)
    {
        foreach (ConnectionSnapshot l in stack.SnapshotListeners().OrderBy(l => l.Local.Port))
        {
            // As ss shows a listener: the accept queue as Recv-Q, the backlog as Send-Q.
            yield return [l.State.ToRfcName(), Number(l.ReceiveQueue), Number(l.SendQueue), l.Local.ToString(), "*", "", "", "", ""];
        }
        foreach (ConnectionSnapshot c in stack.Snapshot().OrderBy(c => c.Local.Port).ThenBy(c => c.Remote.Address.Value).ThenBy(c => c.Remote.Port))
        {
            string timer = c.TimerLeft is TimeSpan left ? $"{c.Timer} {Milliseconds(left)}" : "";
            yield return [c.State.ToRfcName(), Number(c.ReceiveQueue), Number(c.SendQueue), c.Local.ToString(), c.Remote.ToString(), timer,
                Number(c.Retransmissions), c.Rto > TimeSpan.Zero ? Milliseconds(c.Rto) : "", Number(c.CongestionWindow)];
        }
    }

    private static string Text(string title, string index, string now, string[][] rows)
    {
        string[][] table = [Header, .. rows];
        int[] widths = [.. Enumerable.Range(0, Header.Length).Select(c => table.Max(row => row[c].Length))];
        var text = new StringBuilder().Append(title).Append("\n\n").Append(index).Append(CultureInfo.InvariantCulture, $"\nConnections at {now} UTC:\n");
        foreach (string[] row in table)
        {
            text.AppendJoin(' ', row.Select((cell, c) => c is 1 or 2 or 6 or 7 or 8 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))).Append('\n');
        }
        // Trailing spaces of short rows are noise for people and for scripts that split on whitespace.
        return string.Join('\n', text.ToString().Split('\n').Select(line => line.TrimEnd()));
    }

    private static string Html(string title, string index, string now, string[][] rows)
    {
        var page = new StringBuilder();
        page.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"1\">")
            .Append(CultureInfo.InvariantCulture, $"<title>{WebUtility.HtmlEncode(title)}</title>")
            .Append("<style>body{font-family:monospace}td,th{padding:0 1em;text-align:left}</style></head><body>\n")
            .Append(CultureInfo.InvariantCulture, $"<h1>{WebUtility.HtmlEncode(title)}</h1>\n<pre>{WebUtility.HtmlEncode(index)}</pre>\n")
            .Append(CultureInfo.InvariantCulture, $"<h2>Connections at {now} UTC</h2>\n<table>\n<tr>");
        foreach (string name in Header) page.Append("<th>").Append(name).Append("</th>");
        page.Append("</tr>\n");
        foreach (string[] row in rows)
        {
            page.Append("<tr>");
            foreach (string cell in row) page.Append("<td>").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            page.Append("</tr>\n");
        }
        return page.Append("</table>\n</body></html>\n").ToString();
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Milliseconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, time.TotalMilliseconds):F0}ms");
}
