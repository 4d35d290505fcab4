namespace UserTcp.Script;

/// <summary>The parser's ICMP lines (packetdrill's icmp_packet_spec; docs/scripts.md, "Grammar").</summary>
public static partial class ScriptParser
{
    private sealed partial class Parser
    {
        /// <summary>Whether the packet line starting here (at its direction) is an ICMP line: <c>&lt; [ip_info] icmp ...</c>.</summary>
        private bool IsIcmpLine()
        {
            int ahead = 1;
            if (Peek(ahead).Is('[') || Peek(ahead).Is('('))
            {
                char close = Peek(ahead).Is('[') ? ']' : ')';
                while (!Peek(ahead).Is(close) && Peek(ahead).Kind != TokenKind.End) ahead++;
                ahead++;
            }
            return Peek(ahead).IsWord("icmp");
        }

        /// <summary>
        /// <c>direction [ip_info] icmp TYPE [CODE] [mtu N] [id N] ['[' start:end(length) ']']</c>, as packetdrill's grammar:
        /// the code defaults to 0, the MTU is for unreachable frag_needed only, the quoted TCP segment defaults to 0:0(0).
        /// </summary>
        private IcmpSpec Icmp()
        {
            Token dir = Next();
            var direction = dir.Is('<') ? PacketDirection.Inbound : PacketDirection.Outbound;
            int line = dir.Line;
            if (direction == PacketDirection.Outbound)
            {
                throw Error(line, "outbound ICMP lines (`> icmp ...`) are not supported: the runner injects ICMP, it does not compare UserTcp's");
            }
            IpAnnotation? ip = Peek().Is('[') || Peek().Is('(') ? IpInfo(line) : null;
            Next(); // icmp
            Token typeToken = Next();
            if (typeToken.Kind != TokenKind.Word) throw Error(line, $"expected an ICMP type after `icmp`, not `{typeToken.Display}`");
            if (typeToken.IsWord("packet_too_big"))
            {
                throw Error(line, "packet_too_big is an ICMPv6 type: the runner's packets are IPv4 (frag_needed is IPv4's)");
            }
            byte type = IcmpNames.Type(typeToken.Text) ?? throw Error(line, $"bad ICMP type {typeToken.Text}");
            string? codeName = null;
            byte code = 0;
            if (Peek().Kind == TokenKind.Word && !Peek().IsWord("mtu") && !Peek().IsWord("id"))
            {
                codeName = Next().Text;
                code = IcmpNames.Code(type, codeName) ?? throw Error(line, $"bad ICMP code {codeName}");
            }
            ushort? mtu = null;
            if (Peek().IsWord("mtu"))
            {
                Next();
                long value = Bounded(Next(), line, "ICMPv4 MTU", ushort.MaxValue);
                if (type != IcmpNames.Unreachable || code != IcmpNames.FragmentationNeeded) throw Error(line, "ICMPv4 MTU is only valid for unreachable-frag_needed");
                mtu = (ushort)value;
            }
            ushort echoId = 0;
            if (Peek().IsWord("id"))
            {
                Next();
                echoId = (ushort)Bounded(Next(), line, "echo_id", ushort.MaxValue);
            }
            uint seq = 0;
            int length = 0;
            if (Peek().Is('['))
            {
                Next();
                if (Peek().IsWord("udp") || Peek().IsWord("raw"))
                {
                    throw Error(line, $"an ICMP message quoting {Peek().Text} is not supported: UserTcp speaks TCP only");
                }
                (seq, length) = SequenceRange(line, "the quoted segment's", "");
                Expect(']', line, "after the quoted segment");
            }
            return new IcmpSpec(direction, typeToken.Text, codeName, type, code, mtu, echoId, seq, length) { Ip = ip };
        }
    }
}
