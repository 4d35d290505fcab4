namespace UserTcp.Integration.Tests;

/// <summary>
/// The attacker and the victim's client, as python3 programs the attack tests run inside their namespace. The attacker
/// writes whole IPv4 packets to a raw socket (IP_HDRINCL), so it can forge any source; the kernel routes them out of
/// the TUN interface to UserTcp, and whatever UserTcp answers to a forged address dies in the namespace (no such local
/// address, no forwarding).
/// </summary>
internal static class AttackPeers
{
    /// <summary>
    /// python3 -c Raw DST DPORT COUNT SEED SECONDS MODE [SRC SPORT KINDS SEQ ACK]: sends COUNT forged TCP segments to
    /// DST:DPORT within SECONDS, pausing briefly every 64, then prints "sent N SECONDS". (What the TUN interface's queue
    /// drops when UserTcp falls behind shows in its tx_dropped counter, not here.)
    /// MODE flood: SYNs (MSS 1460) from random addresses in 10.77.0.3-254 and random ports, random sequence numbers.
    /// MODE blind: from SRC:SPORT, cycling through KINDS (comma-separated rst, syn, data: 100 bytes with PSH+ACK), at
    /// sequence number SEQ and acknowledgment ACK, each a number or "random".
    /// </summary>
    public const string Raw = """
        import array, errno, random, socket, struct, sys, time
        dst, dport, count, seed, seconds, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
        rng = random.Random(seed)
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        daddr = socket.inet_aton(dst)
        def checksum(data):
            if len(data) % 2:
                data += b"\0"
            total = sum(array.array("H", data))
            total = (total >> 16) + (total & 0xFFFF)
            total += total >> 16
            return ~total & 0xFFFF
        def segment(saddr, sport, seq, ack, flags, options=b"", payload=b""):
            offset = (20 + len(options)) // 4
            tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, 502, 0, 0) + options + payload
            # Summed in the machine's byte order and stored the same way: the Internet checksum does not mind (RFC 1071).
            tcp = tcp[:16] + struct.pack("=H", checksum(saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.getrandbits(16), 0, 64, 6, 0, saddr, daddr)
            return ip + tcp
        def number(text):
            return rng.getrandbits(32) if text == "random" else int(text) & 0xFFFFFFFF
        if mode == "blind":
            saddr, sport, kinds = socket.inet_aton(sys.argv[7]), int(sys.argv[8]), sys.argv[9].split(",")
        start = time.monotonic()
        sent = 0
        while sent < count and time.monotonic() - start < seconds:
            if mode == "flood":
                packet = segment(bytes([10, 77, 0, rng.randrange(3, 255)]), rng.randrange(1024, 65536), rng.getrandbits(32), 0, 0x02, b"\x02\x04\x05\xb4")
            else:
                kind = kinds[sent % len(kinds)]
                seq, ack = number(sys.argv[10]), number(sys.argv[11])
                if kind == "rst":
                    packet = segment(saddr, sport, seq, 0, 0x04)
                elif kind == "syn":
                    packet = segment(saddr, sport, seq, 0, 0x02, b"\x02\x04\x05\xb4")
                else:
                    packet = segment(saddr, sport, seq, ack, 0x18, payload=bytes([0x41 + sent % 26]) * 100)
            while True:
                try:
                    raw.sendto(packet, (dst, 0))
                    break
                except OSError as e:
                    if e.errno != errno.ENOBUFS or time.monotonic() - start >= seconds:
                        raise
                    time.sleep(0.001)
            sent += 1
            if sent % 64 == 0:
                time.sleep(0.0005)  # a breath now and then, so the TUN queue drops fewer of them
        print("sent", sent, round(time.monotonic() - start, 2), flush=True)
        """;

    /// <summary>
    /// python3 -c EchoClient HOST PORT: connects to UserTcp's echo service and prints "local PORT"; then for each line
    /// "echo N" on stdin sends N seeded random bytes while reading the echo, and prints "echo ok N" when the bytes came
    /// back exactly ("echo bad ..." otherwise); "quit" closes. Timeouts bound every wait.
    /// </summary>
    public const string EchoClient = """
        import hashlib, random, socket, sys, threading
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
        print("local", s.getsockname()[1], flush=True)
        rng = random.Random(5961)
        for line in sys.stdin:
            words = line.split()
            if words[0] == "quit":
                break
            n = int(words[1])
            data = rng.randbytes(n)
            sender = threading.Thread(target=s.sendall, args=(data,))
            sender.start()
            back = bytearray()
            try:
                while len(back) < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    back += chunk
            except Exception as e:
                print("echo bad", repr(e), flush=True)
                continue
            sender.join()
            if hashlib.sha256(back).digest() == hashlib.sha256(data).digest():
                print("echo ok", n, flush=True)
            else:
                print("echo bad", len(back), flush=True)
        s.close()
        print("closed", flush=True)
        """;
}
