using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// The HTTP service's index page: the endpoints, then the stack's connection table at this moment, as `usertcp ss`
/// prints it. Browsers (Accept: text/html) get an HTML table that refreshes every second; everyone else plain text.
/// </summary>
internal static class ConnectionPage
{
    public static Task WriteAsync(HttpContext http, NetStack stack, string index)
    {
        IReadOnlyList<ConnectionSnapshot> rows = ConnectionTable.Collect(stack);
        bool html = http.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase));
        http.Response.Headers.CacheControl = "no-store";
        string title = $"UserTcp HTTP server at {stack.Address} (ASP.NET Core on the UserTcp transport)";
        string now = DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
        string body;
        if (html)
        {
            http.Response.ContentType = "text/html; charset=utf-8";
            body = Html(title, index, now, rows);
        }
        else
        {
            http.Response.ContentType = "text/plain; charset=utf-8";
            body = $"{title}\n\n{index}\nConnections at {now} UTC:\n{ConnectionTable.Format(rows)}";
        }
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        http.Response.ContentLength = bytes.Length;
        return HttpMethods.IsHead(http.Request.Method) ? Task.CompletedTask : http.Response.Body.WriteAsync(bytes, http.RequestAborted).AsTask();
    }

    private static string Html(string title, string index, string now, IReadOnlyList<ConnectionSnapshot> rows)
    {
        var page = new StringBuilder();
        page.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"1\">")
            .Append(CultureInfo.InvariantCulture, $"<title>{WebUtility.HtmlEncode(title)}</title>")
            .Append("<style>body{font-family:monospace}td,th{padding:0 1em;text-align:left}</style></head><body>\n")
            .Append(CultureInfo.InvariantCulture, $"<h1>{WebUtility.HtmlEncode(title)}</h1>\n<pre>{WebUtility.HtmlEncode(index)}</pre>\n")
            .Append(CultureInfo.InvariantCulture, $"<h2>Connections at {now} UTC</h2>\n<table>\n")
            .Append("<tr><th>State</th><th>Recv-Q</th><th>Send-Q</th><th>Local Address:Port</th><th>Peer Address:Port</th><th>Timer</th><th>RTO</th><th>cwnd</th></tr>\n");
        foreach (ConnectionSnapshot r in rows)
        {
            bool listen = r.State == TcpState.Listen;
            string timer = r.TimerLeft is TimeSpan left ? $"{ConnectionTable.TimerName(r.Timer)} {ConnectionTable.Duration(left)} ({r.Retransmissions})" : "";
            string[] cells =
            [
                ConnectionTable.SsName(r.State),
                r.ReceiveQueue.ToString(CultureInfo.InvariantCulture),
                r.SendQueue.ToString(CultureInfo.InvariantCulture),
                r.Local.ToString(),
                listen ? "0.0.0.0:*" : r.Remote.ToString(),
                timer,
                listen || r.Rto == TimeSpan.Zero ? "" : ConnectionTable.Duration(r.Rto),
                listen ? "" : r.CongestionWindow.ToString(CultureInfo.InvariantCulture),
            ];
            page.Append("<tr>");
            foreach (string cell in cells) page.Append("<td>").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            page.Append("</tr>\n");
        }
        return page.Append("</table>\n</body></html>\n").ToString();
    }
}
