namespace UserTcp.Engine;

/// <summary>Why a Fast Open connection's data did not ride in its SYN (Linux's tcpi_fastopen_client_fail).</summary>
public enum FastOpenClientFailure : byte
{
    /// <summary>No failure (or no Fast Open).</summary>
    None = 0,
    /// <summary>No cookie was cached: the SYN asked for one and carried no data.</summary>
    CookieUnavailable = 1,
    /// <summary>The SYN carried data the SYN-ACK did not acknowledge: it was sent again.</summary>
    DataNotAcknowledged = 2,
    /// <summary>The SYN was retransmitted (without data); the data went after the handshake.</summary>
    SynRetransmitted = 3,
}

/// <summary>
/// A Fast Open active open's state (Linux's tcp_fastopen_request and the syn_* bits of tcp_sock): what the SYN carries,
/// what it carried, and what the SYN-ACK made of it. Made only for connections that asked for Fast Open.
/// </summary>
internal sealed class ActiveFastOpen
{
    /// <summary>The cookie the SYN carries; null with <see cref="RequestCookie"/> (an empty option) or in no-cookie mode.</summary>
    public byte[]? Cookie;
    /// <summary>The SYN carries an empty Fast Open option: a cookie request (RFC 7413 §4.1.1).</summary>
    public bool RequestCookie;
    /// <summary>The option goes in the experimental form (kind 254, magic 0xF989): the server answered only that one before.</summary>
    public bool Experimental;
    /// <summary>The SYN carries data: a cookie is held, or the client's no-cookie mode is on.</summary>
    public bool SendsData;
    /// <summary>The most data the SYN can carry (Linux's tcp_send_syn_data: the MSS less 40 bytes of option room).</summary>
    public int Room;
    /// <summary>The first SYN has left (a retransmitted one carries neither option nor data).</summary>
    public bool FirstSynSent;
    /// <summary>The first SYN left with the Fast Open option (Linux's syn_fastopen), in the experimental form (syn_fastopen_exp).</summary>
    public bool OptionSent, ExperimentalSent;
    /// <summary>Data the first SYN carried (Linux's syn_data: its length).</summary>
    public int SynDataLength;
    /// <summary>When the first SYN left, with its data.</summary>
    public TimeSpan SynSentAt;
    /// <summary>The SYN-ACK acknowledged the data the SYN carried (Linux's syn_data_acked; tcpi_options TCPI_OPT_SYN_DATA).</summary>
    public bool DataAcknowledged;
    /// <summary>Why the data did not ride in the SYN, when it did not.</summary>
    public FastOpenClientFailure Failure;
}
