using System.Globalization;
using System.Text;
using System.Text.Json;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Cli;

/// <summary>
/// The connection table as `ss -tano` prints it (for `usertcp ss`; presentation, so it lives with the command): State, Recv-Q, Send-Q, the two endpoints, and the
/// armed timer as <c>timer:(on,208ms,0)</c> — the timer's name, time left, retransmissions so far — followed by the RTO
/// and congestion window. States use ss's names (ESTAB, SYN-RECV, FIN-WAIT-1, ...), so a row reads the same as the
/// kernel's row for the other end. LISTEN rows, as in `ss`, show the accept queue as Recv-Q and the backlog as Send-Q.
/// </summary>
public static class ConnectionTable
{
    /// <summary>Listeners first (by port), then connections by local port and peer.</summary>
    public static IReadOnlyList<ConnectionSnapshot> Collect(NetStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return [.. stack.SnapshotListeners().OrderBy(r => r.Local.Port),
            .. stack.Snapshot().OrderBy(r => r.Local.Port).ThenBy(r => r.Remote.Address.ToString(), StringComparer.Ordinal).ThenBy(r => r.Remote.Port)];
    }

    /// <summary>ss's name for a state.</summary>
    public static string SsName(TcpState state) => state switch
    {
        TcpState.Established => "ESTAB",
        TcpState.SynReceived => "SYN-RECV",
        TcpState.Closed => "UNCONN",
        _ => state.ToRfcName(),
    };

    /// <summary>ss's name for a timer ("on" is the retransmission timer).</summary>
    public static string TimerName(TcpTimer timer) => timer switch
    {
        TcpTimer.Retransmission => "on",
        TcpTimer.Persist => "persist",
        TcpTimer.KeepAlive => "keepalive",
        TcpTimer.TimeWait => "timewait",
        TcpTimer.FinWait2 => "finwait2",
        TcpTimer.DelayedAck => "delack",
        _ => "off",
    };

    /// <summary>The table as text, one header line and one line per row, each ending in '\n'.</summary>
    public static string Format(IReadOnlyList<ConnectionSnapshot> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        string[][] cells =
        [
            ["State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Timer"],
            .. rows.Select(r => new[]
            {
                SsName(r.State),
                r.ReceiveQueue.ToString(CultureInfo.InvariantCulture),
                r.SendQueue.ToString(CultureInfo.InvariantCulture),
                r.Local.ToString(),
                r.State == TcpState.Listen ? "0.0.0.0:*" : r.Remote.ToString(),
                r.State == TcpState.Listen ? "" : TimerText(r),
            }),
        ];
        int[] widths = [.. Enumerable.Range(0, 6).Select(c => cells.Max(row => row[c].Length))];
        var text = new StringBuilder();
        foreach (string[] row in cells)
        {
            text.Append(row[0].PadRight(widths[0])).Append(' ')
                .Append(row[1].PadLeft(widths[1])).Append(' ')
                .Append(row[2].PadLeft(widths[2])).Append(' ')
                .Append(row[3].PadRight(widths[3])).Append(' ')
                .Append(row[4].PadRight(widths[4])).Append(' ')
                .Append(row[5]);
            text.Append('\n');
        }
        // Trailing spaces of short rows are noise for people and for scripts that split on whitespace.
        return string.Join('\n', text.ToString().Split('\n').Select(line => line.TrimEnd()));
    }

    /// <summary>
    /// The table as JSON: <c>{"connections":[{"state":"ESTABLISHED","ssState":"ESTAB","local":"10.77.0.2:80",
    /// "remote":"10.77.0.1:40000","recvQ":0,"sendQ":0,"timer":"on","timerLeftMs":204,"retransmissions":0,"rtoMs":204,
    /// "cwnd":14600,"ecn":false,"ecnSeen":false,"delivered":1,"deliveredCe":0,"queue":0}, ...]}</c>; <c>timer</c> and <c>timerLeftMs</c> are null when no timer is armed; <c>ecn</c> and
    /// <c>ecnSeen</c> are TCPI_OPT_ECN and TCPI_OPT_ECN_SEEN, <c>delivered</c> and <c>deliveredCe</c> tcpi_delivered and tcpi_delivered_ce; <c>queue</c> is the TUN
    /// queue (engine shard) that holds the connection.
    /// </summary>
    public static string ToJson(IReadOnlyList<ConnectionSnapshot> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("connections");
            foreach (ConnectionSnapshot r in rows)
            {
                json.WriteStartObject();
                json.WriteString("state", r.State.ToRfcName());
                json.WriteString("ssState", SsName(r.State));
                json.WriteString("local", r.Local.ToString());
                json.WriteString("remote", r.Remote.ToString());
                json.WriteNumber("recvQ", r.ReceiveQueue);
                json.WriteNumber("sendQ", r.SendQueue);
                if (r.TimerLeft is TimeSpan left)
                {
                    json.WriteString("timer", TimerName(r.Timer));
                    json.WriteNumber("timerLeftMs", Math.Round(left.TotalMilliseconds, 3));
                }
                else
                {
                    json.WriteNull("timer");
                    json.WriteNull("timerLeftMs");
                }
                json.WriteNumber("retransmissions", r.Retransmissions);
                json.WriteNumber("rtoMs", Math.Round(r.Rto.TotalMilliseconds, 3));
                json.WriteNumber("cwnd", r.CongestionWindow);
                json.WriteBoolean("ecn", r.Info?.Ecn == true);
                json.WriteBoolean("ecnSeen", r.Info?.EcnSeen == true);
                json.WriteNumber("delivered", r.Info?.DeliveredSegments ?? 0);
                json.WriteNumber("deliveredCe", r.Info?.DeliveredCeSegments ?? 0);
                json.WriteNumber("queue", r.Queue);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static string TimerText(ConnectionSnapshot r)
    {
        string retransmissions = r.Retransmissions.ToString(CultureInfo.InvariantCulture);
        string timer = r.TimerLeft is TimeSpan left ? $"timer:({TimerName(r.Timer)},{Duration(left)},{retransmissions})" : $"timer:(off,{retransmissions})";
        if (r.Rto <= TimeSpan.Zero) return timer;
        // ss -i's flags for TCPI_OPT_ECN and TCPI_OPT_ECN_SEEN.
        string ecn = r.Info is { Ecn: true } info ? info.EcnSeen ? " ecn ecnseen" : " ecn" : "";
        // ss -i's delivered and delivered_ce (tcpi_delivered, tcpi_delivered_ce), each left out while 0 as ss does.
        string delivered = r.Info is { DeliveredSegments: > 0 } counts
            ? $" delivered:{counts.DeliveredSegments.ToString(CultureInfo.InvariantCulture)}"
                + (counts.DeliveredCeSegments > 0 ? $" delivered_ce:{counts.DeliveredCeSegments.ToString(CultureInfo.InvariantCulture)}" : "")
            : "";
        return $"{timer} rto:{Duration(r.Rto)} cwnd:{r.CongestionWindow.ToString(CultureInfo.InvariantCulture)}{ecn}{delivered}";
    }

    /// <summary>As ss prints times: "208ms", "1.2sec", "59sec", "2.5min".</summary>
    public static string Duration(TimeSpan t)
    {
        if (t < TimeSpan.Zero) t = TimeSpan.Zero;
        return t.TotalSeconds switch
        {
            < 1 => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:F0}ms"),
            < 10 => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:F1}sec"),
            < 120 => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:F0}sec"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:F1}min"),
        };
    }
}
