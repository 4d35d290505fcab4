#!/usr/bin/env python3
"""Capture golden TCP/IPv4 packets emitted by the real Linux kernel TCP stack.

Must run as root INSIDE a dedicated network namespace (use capture.sh, which
creates the namespace, runs this script with `ip netns exec`, and deletes the
namespace afterwards).  The script:

  * opens /dev/net/tun itself (IFF_TUN | IFF_NO_PI, interface utcpg0),
  * gives the interface 10.77.0.1/24 (kernel side), MTU 1500, brings it up,
  * plays a minimal hand-crafted TCP peer at 10.77.0.2 by writing raw IPv4
    packets to the TUN fd and reading the kernel's packets from it,
  * writes each captured kernel packet, byte-exact as read from the TUN fd,
    to <out>/<name>.hex and re-verifies every file independently.

Also usable without root / namespace as a pure verifier:

    python3 tools/golden/capture.py --verify-only [--out DIR]
"""

import argparse
import datetime
import fcntl
import os
import platform
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

# ----------------------------------------------------------------- constants

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

IFNAME = "utcpg0"
KERNEL_IP = "10.77.0.1"
PEER_IP = "10.77.0.2"
PREFIX = 24
MTU = 1500

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

CURL_URL = "http://%s/" % PEER_IP
CURL_CMD = ["curl", "--noproxy", "*", "--max-time", "5", "-sS", "-o", "-", CURL_URL]
CURL_CMD_TEXT = "env -u http_proxy -u https_proxy -u all_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY " \
                "curl --noproxy '*' --max-time 5 -sS -o - " + CURL_URL

LISTEN_PORT = 8080      # kernel listener (SYN-ACK capture)
CLOSED_PORT = 9         # nothing listens here (RST capture)
PEER_SYN_PORT = 40000   # our source port for the SYN to the listener
PEER_RST_PORT = 40001   # our source port for the SYN to the closed port

# Fixed values chosen by the python peer (so they are recognisable in dumps).
PEER_ISN_SERVER = 0x1000_0000   # our ISN in the SYN-ACK answering curl
PEER_ISN_CLIENT = 0x2000_0000   # our ISN in the SYN to :8080
PEER_ISN_CLOSED = 0x3000_0000   # our ISN in the SYN to :9
PEER_WINDOW = 64240
PEER_WSCALE = 7
PEER_MSS = 1460

HTTP_RESPONSE = (b"HTTP/1.1 200 OK\r\n"
                 b"Content-Type: text/plain\r\n"
                 b"Content-Length: 7\r\n"
                 b"Connection: close\r\n"
                 b"\r\n"
                 b"golden\n")

PROXY_VARS = ["http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"]

DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "..", "..", "tests", "UserTcp.Wire.Tests", "Golden"))


def log(*a):
    print("[capture]", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ checksum

def csum16(data: bytes) -> int:
    """Internet checksum (RFC 1071) of data, returned as the value to store."""
    if len(data) % 2:
        data += b"\x00"
    s = 0
    for (w,) in struct.iter_unpack("!H", data):
        s += w
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ones_sum_ok(data: bytes) -> bool:
    """True iff the one's-complement sum over data (checksum included) is 0xFFFF."""
    return csum16(data) == 0


def tcp_pseudo(src: bytes, dst: bytes, tcp_len: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, 6, tcp_len)


# ----------------------------------------------------------- packet building

def opt_mss(v):
    return struct.pack("!BBH", 2, 4, v)


def opt_sackok():
    return b"\x04\x02"


def opt_ts(val, ecr):
    return struct.pack("!BBII", 8, 10, val, ecr)


def opt_nop():
    return b"\x01"


def opt_wscale(s):
    return struct.pack("!BBB", 3, 3, s)


def linux_syn_options(tsval, tsecr):
    """Same layout Linux uses in a SYN: mss, sackOK, TS, nop, wscale (20 bytes)."""
    return opt_mss(PEER_MSS) + opt_sackok() + opt_ts(tsval, tsecr) + opt_nop() + opt_wscale(PEER_WSCALE)


def ts_only_options(tsval, tsecr):
    return opt_nop() + opt_nop() + opt_ts(tsval, tsecr)


class IpIdGen:
    def __init__(self, start=0x4d00):
        self.v = start

    def next(self):
        self.v = (self.v + 1) & 0xFFFF
        return self.v


IPID = IpIdGen()


def build_packet(src_ip, dst_ip, sport, dport, seq, ack, flags, window, options=b"", payload=b""):
    assert len(options) % 4 == 0, "options must be padded to 32-bit"
    src = socket.inet_aton(src_ip)
    dst = socket.inet_aton(dst_ip)
    doff = (20 + len(options)) // 4
    tcp_hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          doff << 4, flags, window, 0, 0) + options
    seg = tcp_hdr + payload
    c = csum16(tcp_pseudo(src, dst, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    total = 20 + len(seg)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, IPID.next(), 0x4000, 64, 6, 0, src, dst)
    ip_hdr = ip_hdr[:10] + struct.pack("!H", csum16(ip_hdr)) + ip_hdr[12:]
    return ip_hdr + seg


# ----------------------------------------------------------- packet parsing

class Pkt:
    """Parsed IPv4/TCP packet (only what the peer and the decoder need)."""

    def __init__(self, raw: bytes):
        self.raw = raw
        if len(raw) < 20 or raw[0] >> 4 != 4:
            raise ValueError("not IPv4")
        self.ihl = (raw[0] & 0x0F) * 4
        self.tos = raw[1]
        self.total_len, self.ip_id, self.frag = struct.unpack("!HHH", raw[2:8])
        self.ttl, self.proto, self.ip_csum = raw[8], raw[9], struct.unpack("!H", raw[10:12])[0]
        self.src = socket.inet_ntoa(raw[12:16])
        self.dst = socket.inet_ntoa(raw[16:20])
        self.is_tcp = self.proto == 6 and len(raw) >= self.ihl + 20
        if not self.is_tcp:
            return
        t = raw[self.ihl:self.total_len]
        (self.sport, self.dport, self.seq, self.ack, off, self.flags, self.win,
         self.tcp_csum, self.urg) = struct.unpack("!HHIIBBHHH", t[:20])
        self.doff = (off >> 4) * 4
        self.options_raw = t[20:self.doff]
        self.payload = t[self.doff:]
        self.options = parse_options(self.options_raw)

    def ts(self):
        for o in self.options:
            if o[0] == "TS":
                return o[1], o[2]
        return None


def parse_options(b: bytes):
    """List of options in wire order. Tuples: ('nop',), ('eol',), ('mss', v), ('sackOK',),
    ('TS', val, ecr), ('wscale', s), ('sack', [(l, r), ...]), ('opt', kind, data)."""
    out = []
    i = 0
    while i < len(b):
        kind = b[i]
        if kind == 0:
            out.append(("eol",))
            i += 1
            # anything after EOL is padding; record it if non-zero
            if any(b[i:]):
                out.append(("opt", -1, b[i:]))
            break
        if kind == 1:
            out.append(("nop",))
            i += 1
            continue
        if i + 1 >= len(b):
            out.append(("opt", kind, b[i:]))
            break
        ln = b[i + 1]
        if ln < 2 or i + ln > len(b):
            out.append(("opt", kind, b[i:]))
            break
        data = b[i + 2:i + ln]
        if kind == 2 and ln == 4:
            out.append(("mss", struct.unpack("!H", data)[0]))
        elif kind == 3 and ln == 3:
            out.append(("wscale", data[0]))
        elif kind == 4 and ln == 2:
            out.append(("sackOK",))
        elif kind == 5 and (ln - 2) % 8 == 0:
            out.append(("sack", [struct.unpack("!II", data[j:j + 8]) for j in range(0, len(data), 8)]))
        elif kind == 8 and ln == 10:
            out.append(("TS",) + struct.unpack("!II", data))
        else:
            out.append(("opt", kind, data))
        i += ln
    return out


def flags_str(f):
    # tcpdump order: F S R P . U E W
    s = ""
    for bit, ch in ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"), (ECE, "E"), (CWR, "W")):
        if f & bit:
            s += ch
    return s or "none"


def options_str(opts):
    parts = []
    for o in opts:
        k = o[0]
        if k in ("nop", "eol", "sackOK"):
            parts.append(k)
        elif k == "mss":
            parts.append("mss %d" % o[1])
        elif k == "wscale":
            parts.append("wscale %d" % o[1])
        elif k == "TS":
            parts.append("TS val %d ecr %d" % (o[1], o[2]))
        elif k == "sack":
            parts.append("sack %d %s" % (len(o[1]), " ".join("{%d:%d}" % lr for lr in o[1])))
        else:
            parts.append("opt-%d:%s" % (o[1], o[2].hex()))
    return ",".join(parts)


def decode_lines(raw: bytes):
    """tcpdump-like (-nn -S -v) decoding of one IPv4/TCP packet, as comment lines."""
    p = Pkt(raw)
    ipflags = []
    if p.frag & 0x8000:
        ipflags.append("rsvd")
    if p.frag & 0x4000:
        ipflags.append("DF")
    if p.frag & 0x2000:
        ipflags.append("MF")
    ip_ok = ones_sum_ok(raw[:p.ihl])
    lines = ["IP (tos 0x%x, ttl %d, id %d, offset %d, flags [%s], proto TCP (6), length %d, ip cksum 0x%04x %s)"
             % (p.tos, p.ttl, p.ip_id, (p.frag & 0x1FFF) * 8, "|".join(ipflags) or "none", p.total_len,
                p.ip_csum, "(correct)" if ip_ok else "(INCORRECT)")]
    seg = raw[p.ihl:p.total_len]
    tcp_ok = ones_sum_ok(tcp_pseudo(raw[12:16], raw[16:20], len(seg)) + seg)
    s = "%s.%d > %s.%d: Flags [%s], cksum 0x%04x (%s), seq %d" % (
        p.src, p.sport, p.dst, p.dport, flags_str(p.flags), p.tcp_csum,
        "correct" if tcp_ok else "INCORRECT", p.seq)
    if p.payload:
        s = s[:-len(" seq %d" % p.seq)] + " seq %d:%d" % (p.seq, (p.seq + len(p.payload)) & 0xFFFFFFFF)
    if p.flags & ACK:
        s += ", ack %d" % p.ack
    s += ", win %d" % p.win
    if p.flags & URG:
        s += ", urg %d" % p.urg
    if p.options:
        s += ", options [%s]" % options_str(p.options)
    s += ", length %d" % len(p.payload)
    lines.append("    " + s)
    lines.append("ip header (%d bytes): %s" % (p.ihl, raw[:p.ihl].hex(" ")))
    lines.append("tcp header w/o options (20 bytes): %s" % raw[p.ihl:p.ihl + 20].hex(" "))
    lines.append("tcp data offset %d bytes; option bytes (%d, wire order): %s"
                 % (p.doff, len(p.options_raw), p.options_raw.hex(" ") if p.options_raw else "(none)"))
    if p.payload:
        shown = p.payload.decode("latin-1").encode("unicode_escape").decode("ascii")
        lines.append("payload (%d bytes): %s" % (len(p.payload), shown))
    lines.append("total %d bytes (ip total length %d)" % (len(raw), p.total_len))
    return lines


# ---------------------------------------------------------------- verifier

def read_hex_file(path):
    data = bytearray()
    with open(path, "r", encoding="ascii") as f:
        for ln in f:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            data += bytes.fromhex(ln)
    return bytes(data)


def verify_packet(raw: bytes):
    """Independent check of one raw IPv4/TCP packet. Returns list of problems (empty = OK)."""
    errs = []
    if len(raw) < 40:
        return ["too short (%d bytes)" % len(raw)]
    if raw[0] >> 4 != 4:
        errs.append("IP version %d != 4" % (raw[0] >> 4))
    ihl = (raw[0] & 0x0F) * 4
    if ihl < 20 or ihl > len(raw):
        return errs + ["bad IHL %d" % ihl]
    total = struct.unpack("!H", raw[2:4])[0]
    if total != len(raw):
        errs.append("IP total length %d != captured length %d" % (total, len(raw)))
    # IPv4 header checksum: one's complement sum over the header must be 0xffff
    s = 0
    for i in range(0, ihl, 2):
        s += (raw[i] << 8) | raw[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    if s != 0xFFFF:
        errs.append("IPv4 header checksum invalid (sum 0x%04x)" % s)
    if raw[9] != 6:
        errs.append("IP protocol %d != 6" % raw[9])
    if struct.unpack("!H", raw[6:8])[0] & 0x3FFF:
        errs.append("fragmented packet")
    seg = raw[ihl:total]
    if len(seg) < 20:
        return errs + ["TCP segment too short"]
    doff = (seg[12] >> 4) * 4
    if doff < 20 or doff > len(seg):
        errs.append("bad TCP data offset %d" % doff)
    pseudo = raw[12:20] + bytes([0, 6]) + struct.pack("!H", len(seg))
    buf = pseudo + seg + (b"\x00" if len(seg) % 2 else b"")
    s = 0
    for i in range(0, len(buf), 2):
        s += (buf[i] << 8) | buf[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    if s != 0xFFFF:
        errs.append("TCP checksum invalid (sum 0x%04x)" % s)
    return errs


def verify_dir(out_dir, names):
    ok = True
    for name in names:
        path = os.path.join(out_dir, name + ".hex")
        if not os.path.exists(path):
            log("VERIFY %s: MISSING" % path)
            ok = False
            continue
        raw = read_hex_file(path)
        errs = verify_packet(raw)
        if errs:
            ok = False
            log("VERIFY %s: FAIL: %s" % (name, "; ".join(errs)))
        else:
            p = Pkt(raw)
            log("VERIFY %s: OK (%d bytes, flags [%s], options %s)"
                % (name, len(raw), flags_str(p.flags), p.options_raw.hex(" ") or "-"))
    return ok


# ------------------------------------------------------------------- output

def format_hex_file(name, raw, what, how, meta, extra_comments=()):
    lines = ["# %s: %s. Captured byte-exact from the TUN fd (raw IPv4, IFF_TUN|IFF_NO_PI, no link header) "
             "as emitted by Linux kernel %s on %s; trigger: %s"
             % (name, what, meta["kernel"], meta["date"], how),
             "# tool: tools/golden/capture.sh (own netns, iface %s %s/%d mtu %d; hand-crafted peer %s)"
             % (IFNAME, KERNEL_IP, PREFIX, MTU, PEER_IP),
             "# netns sysctls: %s" % meta["sysctls"],
             "# decode (computed by capture.py, tcpdump -nn -S -v style):"]
    lines += ["#   " + ln for ln in decode_lines(raw)]
    lines += ["# " + c for c in extra_comments]
    for i in range(0, len(raw), 16):
        lines.append(" ".join("%02x" % b for b in raw[i:i + 16]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- TUN / net

def run(cmd, check=True, timeout=10):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=check, timeout=timeout, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    os.set_blocking(fd, False)
    return fd


def read_sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return ",".join(f.read().split())
    except OSError:
        return "?"


class Tun:
    def __init__(self, fd):
        self.fd = fd
        self.seen = []      # every packet read: (time, bytes)
        self.sent = []      # every packet written

    def send(self, pkt: bytes, what=""):
        assert Pkt(pkt).dst == KERNEL_IP and Pkt(pkt).src == PEER_IP
        self.sent.append(pkt)
        os.write(self.fd, pkt)
        log("  -> sent %s: %s" % (what, decode_lines(pkt)[1].strip()))

    def recv(self, pred, timeout, what):
        """Read kernel packets until pred(Pkt) is true; bounded by timeout and count."""
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                break
            try:
                raw = os.read(self.fd, 65535)
            except BlockingIOError:
                continue
            self.seen.append((time.monotonic(), raw))
            try:
                p = Pkt(raw)
            except ValueError:
                log("  <- ignored non-IPv4 packet (%d bytes, first byte 0x%02x)" % (len(raw), raw[0] if raw else 0))
                continue
            if not p.is_tcp:
                log("  <- ignored non-TCP IPv4 packet proto %d %s > %s" % (p.proto, p.src, p.dst))
                continue
            log("  <- got: %s" % decode_lines(raw)[1].strip())
            if pred(p):
                return p
            log("     (not the awaited %s; ignored)" % what)
        raise TimeoutError("timed out waiting for %s" % what)


# ---------------------------------------------------------------- tcpdump

class Tcpdump:
    def __init__(self, path):
        self.path = path
        self.proc = None
        exe = shutil.which("tcpdump")
        if not exe:
            log("tcpdump not installed: skipping pcap cross-check")
            return
        self.proc = subprocess.Popen([exe, "-i", IFNAME, "-n", "-U", "-s", "0", "-w", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log("started tcpdump pid %d" % self.proc.pid)
        # wait (bounded) for "listening on"
        deadline = time.monotonic() + 5
        os.set_blocking(self.proc.stderr.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if r:
                chunk = self.proc.stderr.read() or b""
                buf += chunk
                if b"listening on" in buf:
                    break
            if self.proc.poll() is not None:
                break
        log("tcpdump: %s" % buf.decode(errors="replace").strip())
        if self.proc.poll() is not None:
            log("tcpdump exited early (rc %s): skipping pcap cross-check" % self.proc.returncode)
            self.proc = None

    def stop(self):
        if not self.proc:
            return None
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        rest = self.proc.stderr.read() or b""
        log("tcpdump stopped: %s" % rest.decode(errors="replace").strip())
        return read_pcap(self.path)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a classic pcap file")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    pkts = []
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype in (101, 12, 14, 228):      # LINKTYPE_RAW / DLT_RAW variants / IPV4
            pkts.append(frame)
        elif linktype == 113:                    # LINUX_SLL
            pkts.append(frame[16:])
        elif linktype == 276:                    # LINUX_SLL2
            pkts.append(frame[20:])
        else:
            raise ValueError("unexpected pcap linktype %d" % linktype)
    return pkts


def tcpdump_decode(raw: bytes):
    """Let the real tcpdump decode one packet (via a one-packet pcap); None if unavailable."""
    exe = shutil.which("tcpdump")
    if not exe:
        return None
    path = "/tmp/utcp-golden-one-%d.pcap" % os.getpid()
    try:
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
            f.write(struct.pack("<IIII", 0, 0, len(raw), len(raw)))
            f.write(raw)
        out = subprocess.run([exe, "-r", path, "-nn", "-S", "-vv", "-t"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=10).stdout
        ver = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=10).stdout.split("\n")[0].strip()
        return ver, [ln.rstrip() for ln in out.splitlines() if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if os.path.exists(path):
            os.unlink(path)


# ---------------------------------------------------------------- scenarios

def capture_all(tun, meta):
    got = {}        # name -> (raw, what, how)
    ts_clock = [1_000_000]

    def tsval():
        ts_clock[0] += 7
        return ts_clock[0]

    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}

    # ---- 1..3: kernel as client (curl) ----------------------------------
    log("scenario A: curl -> %s:80" % PEER_IP)
    curl = subprocess.Popen(CURL_CMD, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log("started curl pid %d" % curl.pid)
    try:
        syn = tun.recv(lambda p: p.src == KERNEL_IP and p.dst == PEER_IP and p.dport == 80
                       and p.flags & (SYN | ACK) == SYN, 5, "curl SYN")
        got["linux-syn"] = (syn.raw, "TCP SYN sent by the Linux kernel for curl's connect()", CURL_CMD_TEXT)
        cport = syn.sport
        k_isn = syn.seq
        k_ts = syn.ts()[0] if syn.ts() else 0
        my_seq = PEER_ISN_SERVER

        synack = build_packet(PEER_IP, KERNEL_IP, 80, cport, my_seq, k_isn + 1, SYN | ACK, PEER_WINDOW,
                              linux_syn_options(tsval(), k_ts))
        tun.send(synack, "SYN-ACK (mss 1460,sackOK,TS,nop,wscale 7)")
        my_seq += 1
        k_next = k_isn + 1

        data = None
        while data is None:
            p = tun.recv(lambda p: p.src == KERNEL_IP and p.sport == cport and p.dport == 80, 5,
                         "handshake ACK / request")
            if p.ts():
                k_ts = p.ts()[0]
            if p.payload:
                data = p
            elif p.flags == ACK and "linux-ack" not in got:
                got["linux-ack"] = (p.raw, "pure ACK completing the 3-way handshake, sent by the Linux kernel "
                                           "after our SYN-ACK", CURL_CMD_TEXT)
        got["linux-data"] = (data.raw, "data segment (curl's HTTP GET request) sent by the Linux kernel",
                             CURL_CMD_TEXT)
        k_next = (data.seq + len(data.payload)) & 0xFFFFFFFF

        resp = build_packet(PEER_IP, KERNEL_IP, 80, cport, my_seq, k_next, FIN | PSH | ACK, PEER_WINDOW >> PEER_WSCALE,
                            ts_only_options(tsval(), k_ts), HTTP_RESPONSE)
        tun.send(resp, "HTTP response + FIN")
        my_seq += len(HTTP_RESPONSE) + 1

        fin = None
        for _ in range(10):
            p = tun.recv(lambda p: p.src == KERNEL_IP and p.sport == cport and p.dport == 80, 5,
                         "kernel FIN")
            if p.ts():
                k_ts = p.ts()[0]
            if p.flags & FIN:
                fin = p
                break
            if p.flags & RST:
                raise RuntimeError("kernel reset the curl connection")
        if fin is None:
            raise TimeoutError("no FIN from kernel")
        got["linux-finack"] = (fin.raw, "FIN+ACK sent by the Linux kernel when curl closed the connection "
                                        "(after our HTTP response + FIN)", CURL_CMD_TEXT)
        last = build_packet(PEER_IP, KERNEL_IP, 80, cport, my_seq, (fin.seq + len(fin.payload) + 1) & 0xFFFFFFFF,
                            ACK, PEER_WINDOW >> PEER_WSCALE, ts_only_options(tsval(), k_ts))
        tun.send(last, "final ACK of kernel FIN")
    finally:
        try:
            out, err = curl.communicate(timeout=7)
        except subprocess.TimeoutExpired:
            curl.kill()
            out, err = curl.communicate(timeout=5)
        log("curl exited rc=%s stdout=%r stderr=%r" % (curl.returncode, out, err))
        meta["curl_rc"] = curl.returncode
        meta["curl_out"] = out

    # ---- 4: kernel as server (listener) -----------------------------------
    log("scenario B: SYN -> %s:%d (kernel listener)" % (KERNEL_IP, LISTEN_PORT))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((KERNEL_IP, LISTEN_PORT))
        lsock.listen(8)
        syn = build_packet(PEER_IP, KERNEL_IP, PEER_SYN_PORT, LISTEN_PORT, PEER_ISN_CLIENT, 0, SYN, PEER_WINDOW,
                           linux_syn_options(tsval(), 0))
        tun.send(syn, "SYN to listener")
        sa = tun.recv(lambda p: p.src == KERNEL_IP and p.sport == LISTEN_PORT and p.dport == PEER_SYN_PORT
                      and p.flags & (SYN | ACK) == SYN | ACK, 5, "kernel SYN-ACK")
        got["linux-synack"] = (sa.raw, "TCP SYN-ACK sent by the Linux kernel listener (socket.listen() on "
                                       "%s:%d in capture.py) answering our SYN" % (KERNEL_IP, LISTEN_PORT),
                               "capture.py peer sent SYN %s:%d > %s:%d seq %d with options "
                               "[mss 1460,sackOK,TS val X ecr 0,nop,wscale 7]"
                               % (PEER_IP, PEER_SYN_PORT, KERNEL_IP, LISTEN_PORT, PEER_ISN_CLIENT))
        rst = build_packet(PEER_IP, KERNEL_IP, PEER_SYN_PORT, LISTEN_PORT, PEER_ISN_CLIENT + 1, 0, RST, 0)
        tun.send(rst, "RST to drop the half-open connection")
    finally:
        lsock.close()

    # ---- 5: closed port -> RST -------------------------------------------
    log("scenario C: SYN -> %s:%d (closed)" % (KERNEL_IP, CLOSED_PORT))
    syn = build_packet(PEER_IP, KERNEL_IP, PEER_RST_PORT, CLOSED_PORT, PEER_ISN_CLOSED, 0, SYN, PEER_WINDOW,
                       linux_syn_options(tsval(), 0))
    tun.send(syn, "SYN to closed port")
    r = tun.recv(lambda p: p.src == KERNEL_IP and p.sport == CLOSED_PORT and p.dport == PEER_RST_PORT, 5,
                 "kernel RST")
    if not r.flags & RST:
        raise RuntimeError("expected RST, got flags [%s]" % flags_str(r.flags))
    got["linux-rst"] = (r.raw, "TCP RST+ACK sent by the Linux kernel for a SYN to closed port %d" % CLOSED_PORT,
                        "capture.py peer sent SYN %s:%d > %s:%d seq %d with options "
                        "[mss 1460,sackOK,TS val X ecr 0,nop,wscale 7]"
                        % (PEER_IP, PEER_RST_PORT, KERNEL_IP, CLOSED_PORT, PEER_ISN_CLOSED))

    # drain anything else the kernel still emits (bounded), for the log only
    try:
        tun.recv(lambda p: False, 1.0, "nothing (drain)")
    except TimeoutError:
        pass
    return got


NAMES = ["linux-syn", "linux-ack", "linux-data", "linux-finack", "linux-synack", "linux-rst"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory for <name>.hex (default: %(default)s)")
    ap.add_argument("--verify-only", action="store_true", help="only re-verify existing .hex files")
    ap.add_argument("--pcap", default=None, help="tcpdump cross-check file (default: temp file; needs tcpdump)")
    ap.add_argument("--i-am-in-a-netns", action="store_true",
                    help="required safety flag: confirms we run inside a dedicated namespace (set by capture.sh)")
    args = ap.parse_args()

    if args.verify_only:
        return 0 if verify_dir(args.out, NAMES) else 1

    if not args.i_am_in_a_netns or not os.environ.get("UTCP_GOLDEN_NETNS"):
        log("refusing to run outside the namespace created by capture.sh")
        return 2
    # Extra guard: the namespace must not already contain any non-loopback interface.
    links = os.listdir("/sys/class/net")
    if set(links) - {"lo"}:
        log("refusing: unexpected interfaces in this namespace: %s" % links)
        return 2

    meta = {
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    fd = open_tun(IFNAME)
    tun = Tun(fd)
    pcap_path = args.pcap or "/tmp/utcp-golden-%d.pcap" % os.getpid()
    tcpdump = None
    try:
        run(["ip", "addr", "add", "%s/%d" % (KERNEL_IP, PREFIX), "dev", IFNAME])
        run(["ip", "link", "set", "dev", IFNAME, "mtu", str(MTU), "up"])
        log(run(["ip", "-d", "addr", "show", "dev", IFNAME]).strip())
        log(run(["ip", "route", "show"]).strip())
        meta["sysctls"] = " ".join("%s=%s" % (n.split(".")[-1], read_sysctl(n)) for n in (
            "net.ipv4.tcp_timestamps", "net.ipv4.tcp_sack", "net.ipv4.tcp_window_scaling", "net.ipv4.tcp_ecn",
            "net.ipv4.tcp_rmem", "net.core.rmem_max", "net.ipv4.ip_no_pmtu_disc"))
        tcpdump = Tcpdump(pcap_path)

        got = capture_all(tun, meta)

        pcap_pkts = tcpdump.stop() if tcpdump else None
        tcpdump = None

        os.makedirs(args.out, exist_ok=True)
        cross_ok = True
        for name in NAMES:
            if name not in got:
                log("WARNING: %s was not captured" % name)
                continue
            raw, what, how = got[name]
            extra = []
            if pcap_pkts is not None:
                hit = raw in pcap_pkts
                cross_ok &= hit
                extra.append("cross-check: tcpdump -i %s -w (same netns) captured %s"
                             % (IFNAME, "byte-identical packet" if hit else "NO identical packet (MISMATCH)"))
            td = tcpdump_decode(raw)
            if td:
                extra.append("real %s decode (-r <this packet> -nn -S -vv -t):" % td[0])
                extra += ["  " + ln for ln in td[1]]
            path = os.path.join(args.out, name + ".hex")
            with open(path, "w", encoding="ascii") as f:
                f.write(format_hex_file(name, raw, what, how, meta, extra))
            log("wrote %s (%d bytes)" % (path, len(raw)))

        log("kernel packets read from TUN: %d, packets sent: %d" % (len(tun.seen), len(tun.sent)))
        if pcap_pkts is not None:
            log("pcap packets: %d; all goldens found byte-identical in pcap: %s" % (len(pcap_pkts), cross_ok))
            if not cross_ok:
                return 1
        if meta.get("curl_rc") != 0 or meta.get("curl_out") != HTTP_RESPONSE.split(b"\r\n\r\n", 1)[1]:
            log("WARNING: curl did not complete as expected (rc %s)" % meta.get("curl_rc"))
        return 0 if verify_dir(args.out, [n for n in NAMES if n in got]) else 1
    finally:
        if tcpdump and tcpdump.proc and tcpdump.proc.poll() is None:
            tcpdump.proc.kill()
            tcpdump.proc.wait(timeout=5)
        os.close(fd)
        if not args.pcap and os.path.exists(pcap_path):
            os.unlink(pcap_path)


if __name__ == "__main__":
    sys.exit(main())
