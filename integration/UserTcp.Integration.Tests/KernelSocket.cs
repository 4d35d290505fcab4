using System.Globalization;

namespace UserTcp.Integration.Tests;

/// <summary>One line of `ss -tanH`: the kernel's view of one TCP socket, with the state in RFC spelling.</summary>
public sealed record KernelSocket(string State, int ReceiveQueue, int SendQueue, string Local, string Peer)
{
    /// <summary>ss prints ESTAB and SYN-RECV; the RFC (and UserTcp) say ESTABLISHED and SYN-RECEIVED.</summary>
    public static string ToRfcName(string ssState) => ssState switch
    {
        "ESTAB" => "ESTABLISHED",
        "SYN-RECV" => "SYN-RECEIVED",
        "UNCONN" or "CLOSE" => "CLOSED",
        _ => ssState,
    };

    public static KernelSocket? Parse(string line)
    {
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int receive)
            || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out int send))
        {
            return null;
        }
        return new KernelSocket(ToRfcName(fields[0]), receive, send, fields[3], fields[4]);
    }

    public override string ToString() => $"{State} {ReceiveQueue} {SendQueue} {Local} {Peer}";
}
