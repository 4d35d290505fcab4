namespace UserTcp.Engine;

/// <summary>Which rules RACK's loss detection follows where RFC 8985 and Linux differ (<see cref="TcpConfig.RackRules"/>).</summary>
public enum RackRules : byte
{
    /// <summary>
    /// RFC 8985 §6.2: reordering is seen when a never-resent segment is delivered below the highest delivered, this
    /// ACK's SACK blocks included, and DupThresh is 3; RACK.rtt comes with RACK.xmit_ts, from the most recently sent
    /// delivery only; an ACK below SND.UNA is ignored, SACK blocks and all (RFC 9293 §3.10.7.4); a D-SACK widens the
    /// reordering window on the ACK that carries it (§6.2 step 4). The default.
    /// </summary>
    Rfc8985,
    /// <summary>
    /// Linux's: reordering is seen once tp->reord_seen counts an event (against what earlier ACKs delivered, prior_fack)
    /// and the reordering window's DupThresh is tp->reordering (tcp_rack_reo_wnd); RACK.rtt is that of every delivery
    /// processed, while RACK.xmit_ts moves only for a later send (tcp_rack_advance); an ACK below SND.UNA within
    /// RFC 5961's range still has its SACK blocks taken, with loss detection and recovery's sending after it (tcp_ack's
    /// old_ack); a D-SACK widens the reordering window on the next ACK that delivers data sent after the last widening
    /// (tcp_rack_update_reo_wnd). For scripts written against Linux (<c>usertcp script --relaxed</c>).
    /// </summary>
    Linux,
}

/// <summary>The names the command line and reports give <see cref="RackRules"/>: "rfc8985" and "linux".</summary>
public static class RackRuleNames
{
    /// <summary>"rfc8985" or "linux", as <c>--rack-rules</c> takes them.</summary>
    public static string Name(this RackRules rules) => rules == RackRules.Linux ? "linux" : "rfc8985";

    /// <summary>Parses "rfc8985" or "linux", case-insensitively.</summary>
    public static bool TryParse(string? name, out RackRules rules)
    {
        switch (name?.Trim().ToUpperInvariant())
        {
            case "RFC8985":
                rules = RackRules.Rfc8985;
                return true;
            case "LINUX":
                rules = RackRules.Linux;
                return true;
            default:
                rules = default;
                return false;
        }
    }
}
