namespace UserTcp.Script;

/// <summary>
/// The fields of Linux's struct tcp_info (include/uapi/linux/tcp.h) as packetdrill names them in <c>%{ }%</c> code
/// and in getsockopt(TCP_INFO) structs: <c>tcpi_snd_cwnd</c> is <see cref="SndCwnd"/>. Which of them UserTcp can
/// answer is the evaluator's business; the parser knows them all, so a misspelt field is an error at its line.
/// </summary>
public enum TcpInfoField
{
    State,
    CaState,
    Retransmits,
    Probes,
    Backoff,
    Options,
    SndWscale,
    RcvWscale,
    DeliveryRateAppLimited,
    Rto,
    Ato,
    SndMss,
    RcvMss,
    Unacked,
    Sacked,
    Lost,
    Retrans,
    Fackets,
    LastDataSent,
    LastAckSent,
    LastDataRecv,
    LastAckRecv,
    Pmtu,
    RcvSsthresh,
    Rtt,
    Rttvar,
    SndSsthresh,
    SndCwnd,
    Advmss,
    Reordering,
    RcvRtt,
    RcvSpace,
    TotalRetrans,
    PacingRate,
    MaxPacingRate,
    BytesAcked,
    BytesReceived,
    SegsOut,
    SegsIn,
    NotsentBytes,
    MinRtt,
    DataSegsIn,
    DataSegsOut,
    DeliveryRate,
    BusyTime,
    RwndLimited,
    SndbufLimited,
    Delivered,
    DeliveredCe,
    BytesSent,
    BytesRetrans,
    DsackDups,
    ReordSeen,
    RcvOoopack,
    SndWnd,
    RcvWnd,
    Rehash,
    TotalRto,
    TotalRtoRecoveries,
    TotalRtoTime,
    EcnMode,
    AccecnOptSeen,
    AccecnFailMode,
    Options2,
    ReceivedCe,
    DeliveredE1Bytes,
    DeliveredE0Bytes,
    DeliveredCeBytes,
    ReceivedE1Bytes,
    ReceivedE0Bytes,
    ReceivedCeBytes,
}

/// <summary>Names of <see cref="TcpInfoField"/>s and the constants packetdrill's code blocks define beside them (code.c).</summary>
public static class TcpInfoNames
{
    private static readonly Dictionary<string, TcpInfoField> Fields = Enum.GetValues<TcpInfoField>().ToDictionary(Name, StringComparer.Ordinal);

    /// <summary>tcpi_state values, tcpi_ca_state values and tcpi_options bits, as packetdrill emits them before each block.</summary>
    private static readonly Dictionary<string, long> Constants = new(StringComparer.Ordinal)
    {
        ["TCP_ESTABLISHED"] = 1,
        ["TCP_SYN_SENT"] = 2,
        ["TCP_SYN_RECV"] = 3,
        ["TCP_FIN_WAIT1"] = 4,
        ["TCP_FIN_WAIT2"] = 5,
        ["TCP_TIME_WAIT"] = 6,
        ["TCP_CLOSE"] = 7,
        ["TCP_CLOSE_WAIT"] = 8,
        ["TCP_LAST_ACK"] = 9,
        ["TCP_LISTEN"] = 10,
        ["TCP_CLOSING"] = 11,
        ["TCP_CA_Open"] = 0,
        ["TCP_CA_Disorder"] = 1,
        ["TCP_CA_CWR"] = 2,
        ["TCP_CA_Recovery"] = 3,
        ["TCP_CA_Loss"] = 4,
        ["TCPI_OPT_TIMESTAMPS"] = 1,
        ["TCPI_OPT_SACK"] = 2,
        ["TCPI_OPT_WSCALE"] = 4,
        ["TCPI_OPT_ECN"] = 8,
        ["TCPI_OPT_ECN_SEEN"] = 16,
        ["TCPI_OPT_SYN_DATA"] = 32,
        ["TCPI_OPT_USEC_TS"] = 64,
        ["TCPI_OPT_TFO_CHILD"] = 128,
    };

    /// <summary><c>tcpi_snd_cwnd</c> for <see cref="TcpInfoField.SndCwnd"/>.</summary>
    public static string Name(TcpInfoField field)
    {
        string pascal = field.ToString();
        var name = new System.Text.StringBuilder("tcpi");
        foreach (char c in pascal)
        {
            if (char.IsAsciiLetterUpper(c)) name.Append('_');
            name.Append(char.ToLowerInvariant(c));
        }
        return name.ToString();
    }

    public static bool TryField(string name, out TcpInfoField field) => Fields.TryGetValue(name, out field);

    public static bool TryConstant(string name, out long value) => Constants.TryGetValue(name, out value);

    /// <summary>The tcpi_state name of a value, for messages.</summary>
    public static string StateName(long value) =>
        Constants.FirstOrDefault(c => c.Key.StartsWith("TCP_", StringComparison.Ordinal) && !c.Key.StartsWith("TCP_CA_", StringComparison.Ordinal) && c.Value == value).Key
        ?? value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
