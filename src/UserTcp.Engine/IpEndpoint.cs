using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>An IPv4 address and TCP port.</summary>
public readonly record struct IpEndpoint(Ipv4Address Address, ushort Port)
{
    /// <summary>"10.77.0.2:80".</summary>
    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>The key of a connection: this side's endpoint and the peer's (RFC 9293 §3.3.1 "socket pair").</summary>
public readonly record struct FourTuple(IpEndpoint Local, IpEndpoint Remote)
{
    /// <summary>"local&lt;-&gt;remote".</summary>
    public override string ToString() => $"{Local}<->{Remote}";
}
