using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// ICMP (RFC 792, RFC 1122 §3.2.2): echo requests are answered, so `ping` works against the stack; errors are handed to
/// the connection whose segment they quote, which validates them (RFC 5927 §4.1) and acts (Icmp/TcpConnection.Icmp.cs).
/// Everything else — redirects, source quench (RFC 6633), replies we never asked for — is counted and ignored.
/// </summary>
public sealed partial class TcpEngine
{
    private void OnIcmp(TimeSpan now, in Ipv4Packet ip)
    {
        Counters.Count(MibCounter.IcmpInMsgs);
        WireError error = IcmpPacket.TryParse(ip, out IcmpPacket icmp);
        if (error != WireError.None)
        {
            RefuseIcmp(now, error);
            return;
        }
        if (ip.Destination != Address)
        {
            Counters.PacketsNotForUs++;
            return;
        }
        switch (icmp.Type)
        {
            case IcmpType.EchoRequest:
                Counters.Count(MibCounter.IcmpInEchos);
                SendEchoReply(ip, icmp);
                break;
            case IcmpType.DestinationUnreachable:
                Counters.Count(MibCounter.IcmpInDestUnreachs);
                OnIcmpError(now, icmp);
                break;
            case IcmpType.TimeExceeded:
                Counters.Count(MibCounter.IcmpInTimeExcds);
                OnIcmpError(now, icmp);
                break;
            case IcmpType.ParameterProblem:
                Counters.Count(MibCounter.IcmpInParmProbs);
                OnIcmpError(now, icmp);
                break;
            default:
                Counters.Count(MibCounter.UserTcpIcmpIgnored); // source quench (RFC 6633), redirects, echo replies, ...
                break;
        }
    }

    /// <summary>RFC 1122 §3.2.2.6: every host MUST answer an echo request, with the same identifier, sequence number and data.</summary>
    private void SendEchoReply(in Ipv4Packet request, in IcmpPacket echo)
    {
        // The reply's source is the address the request was sent to (ours); no DF: the reply is as large as the request was.
        var ip = new Ipv4Repr(Address, request.Source) { Identification = _ipIdentification++, DontFragment = false };
        int needed = PacketWriter.Ipv4IcmpLength(echo.Body.Length);
        Span<byte> buffer = _output is null ? default : _output.GetBuffer(needed);
        if (buffer.Length < needed) buffer = _transmitBuffer;
        if (!PacketWriter.TryWriteEchoReply(buffer, ip, echo, out int length)) return;
        Counters.Count(MibCounter.IcmpOutMsgs);
        Counters.Count(MibCounter.IcmpOutEchoReps);
        _output?.Transmit(buffer[..length]);
    }

    /// <summary>An ICMP error: the connection whose segment it quotes, if any, decides what it means.</summary>
    private void OnIcmpError(TimeSpan now, in IcmpPacket icmp)
    {
        WireError error = icmp.TryGetQuotedTcp(out QuotedTcpSegment quoted);
        if (error != WireError.None)
        {
            RefuseIcmp(now, error);
            return;
        }
        // The quoted segment is one we sent: our address and port are its source.
        var id = new FourTuple(new IpEndpoint(quoted.Source, quoted.SourcePort), new IpEndpoint(quoted.Destination, quoted.DestinationPort));
        if (quoted.Source != Address || !_connections.TryGetValue(id, out TcpConnection? connection) || connection.State == TcpState.Closed)
        {
            Counters.Count(MibCounter.UserTcpIcmpNoConnection);
            return;
        }
        connection.OnIcmpError(now, icmp.Type, icmp.Code, quoted, icmp.NextHopMtu);
    }

    private void RefuseIcmp(TimeSpan now, WireError error)
    {
        Counters.Count(MibCounter.IcmpInErrors);
        if (error == WireError.BadIcmpChecksum) Counters.Count(MibCounter.IcmpInCsumErrors);
        Counters.CountMalformed(error);
        Emit(new TcpEvent(now, TcpEventKind.Dropped, default, Cause: TcpCause.Malformed, WireError: error));
    }
}
