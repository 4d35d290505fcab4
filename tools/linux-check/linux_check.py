#!/usr/bin/env python3
"""Runs our packetdrill scripts (tests/scripts/**/*.pkt) against the Linux kernel with a real packetdrill binary, each
in a scratch network namespace of its own, to check that what a script pins down is what Linux does.

See tools/linux-check/README.md for the environment it sets up, the rewrites it makes and the skip marker.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# `// linux-check: skip (reason)` in a script's leading comment: the script tests UserTcp-only behaviour.
SKIP_MARKER = re.compile(r"^//\s*linux-check:\s*skip\s*\((.+)\)\s*$")
# `// linux-check: windows`: outbound win and SYN wscale are compared as written (the script sizes its buffers).
WINDOWS_MARKER = re.compile(r"^//\s*linux-check:\s*windows\s*$")

# The world UserTcp's runner plays (docs/scripts.md "The world the runner plays"), as sysctls of the namespace.
# tcp_congestion_control is added from --cc.
RUNNER_WORLD = [
    "net.ipv4.tcp_moderate_rcvbuf=0",           # receive buffers keep their first size
    "net.ipv4.tcp_rmem=4096 524288 524288",      # 256 KiB of data (SO_RCVBUF reports twice that), fixed
    "net.ipv4.tcp_wmem=4096 262144 262144",      # SO_SNDBUF 256 KiB, not grown
    "net.ipv4.tcp_slow_start_after_idle=0",      # the restart window after idle is opt-in
    "net.ipv4.tcp_ecn=2",                        # ECN accepted when asked, not requested (Linux's default and UserTcp's)
    "net.ipv4.tcp_ecn_fallback=1",
    "net.ipv4.tcp_timestamps=1",
    "net.ipv4.tcp_sack=1",
    "net.ipv4.tcp_dsack=1",
    "net.ipv4.tcp_frto=2",
    "net.ipv4.tcp_recovery=1",                   # RACK
    "net.ipv4.tcp_early_retrans=3",              # TLP (Linux's default)
    "net.ipv4.tcp_fastopen=1",                   # Linux's default and UserTcp's (TcpConfig.FastOpen: client)
    "net.ipv4.tcp_no_metrics_save=1",            # UserTcp caches no route metrics
    "net.ipv4.tcp_syncookies=1",
    "net.ipv4.tcp_syn_linear_timeouts=0",        # UserTcp backs off SYNs from the first retry
]

# packetdrill's flags for IPv4, as upstream's run_all.py passes them (our runner plays the same addresses).
PACKETDRILL_FLAGS = [
    "--send_omit_free", "--ip_version=ipv4", "--local_ip=192.168.0.1", "--gateway_ip=192.168.0.1",
    "--netmask_ip=255.255.0.0", "--remote_ip=192.0.2.1",
]


class Namespaces:
    """Scratch namespaces made by this run: each removed after its script, and all left at exit or on a signal."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live = set()
        self._procs = set()
        self._stopping = False

    def add(self, name):
        # Under the lock, so a tear-down either sees this namespace or stops it being made.
        with self._lock:
            if self._stopping:
                raise RuntimeError("stopping")
            subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
            self._live.add(name)

    def remove(self, name):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        with self._lock:
            self._live.discard(name)

    def started(self, proc):
        with self._lock:
            self._procs.add(proc)
            stopping = self._stopping
        if stopping:
            os.killpg(proc.pid, signal.SIGKILL)

    def finished(self, proc):
        with self._lock:
            self._procs.discard(proc)

    def tear_down(self):
        with self._lock:
            self._stopping = True
            procs, live = list(self._procs), list(self._live)
        for proc in procs:
            # Each packetdrill runs in a process group of its own that this run started.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name in live:
            self.remove(name)


def default_cc_settable(cc, namespaces):
    """Whether a scratch namespace may make cc its default. Outside the initial namespace only the algorithms of the
    host's tcp_allowed_congestion_control may be (tcp_set_default_congestion_control: EPERM otherwise), and that list
    is the host's to change, not ours; root may still choose any loaded algorithm per socket (TCP_CONGESTION)."""
    ns = f"lcheck-{os.getpid()}-probe"
    try:
        namespaces.add(ns)
        r = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.tcp_congestion_control={cc}"],
                           capture_output=True, text=True)
        return r.returncode == 0
    finally:
        namespaces.remove(ns)


def header(text):
    return [l.strip() for l in text.splitlines() if l.strip()][:40]


def skip_reason(text):
    for line in header(text):
        if not line.startswith("//"):
            break
        m = SKIP_MARKER.match(line)
        if m:
            return m.group(1)
    return None


# `// linux-check: timeout SECONDS`: the script runs longer than --timeout in real time (keepalive, TIME-WAIT...).
TIMEOUT_MARKER = re.compile(r"^//\s*linux-check:\s*timeout\s+(\d+)\s*$")


def marked_timeout(text):
    for line in header(text):
        m = TIMEOUT_MARKER.match(line) if line.startswith("//") else None
        if m:
            return int(m.group(1))
    return None


def keeps_windows(text):
    """A script that sizes its receive buffer (SO_RCVBUF) pins windows both stacks size alike; so does a marked one."""
    return any(WINDOWS_MARKER.match(l) for l in header(text) if l.startswith("//")) \
        or re.search(r"^[^/]*setsockopt\([^)]*SO_RCVBUF", text, re.M) is not None


def linux_window_scale(rmem_max_tcp):
    """tcp_select_initial_window: ilog2 of max(tcp_rmem[2], net.core.rmem_max) less 15, at most 14."""
    with open("/proc/sys/net/core/rmem_max") as f:
        space = max(rmem_max_tcp, int(f.read()))
    return max(0, min(14, space.bit_length() - 1 - 15))


def is_outbound(line):
    s = line.strip()
    return not s.startswith("//") and re.search(r"(^|\s)>\s", line) is not None


def rewrite(text, wscale, keep_windows, socket_cc=None):
    """Only what the two stacks legitimately size differently, and UserTcp's spellings of Linux settings; with
    socket_cc, every socket() is followed by a TCP_CONGESTION setsockopt choosing it."""
    out, extra = [], []
    if any(re.search(r"tcp_congestion_control=", l) for l in text.splitlines() if not l.strip().startswith("//")):
        socket_cc = None  # the script chooses its own (reno, which the namespace may make its default)
    for line in text.splitlines():
        m = re.match(r"^\s*\S+\s+socket\(.*\)\s*=\s*(\d+)", line) if socket_cc else None
        if m:
            # On the same line, so packetdrill's line numbers stay the script's (its grammar ignores line ends).
            line += f'  +0 setsockopt({m.group(1)}, IPPROTO_TCP, TCP_CONGESTION, "{socket_cc}", {len(socket_cc)}) = 0'

        s = line.strip()
        if re.match(r"^--(local_isn|remote_isn)=\S+$", s):
            continue  # the ISNs only move the wire numbers; packetdrill's outbound numbers are relative anyway
        if re.match(r"^--(relaxed|(rto_formula|cubic_arithmetic|rack_rules|send_buffer_accounting|receive_window|beyond_window)=\S+)$", s):
            out.append("//")  # the runner's own options (Linux's RTO, CUBIC, RACK, send buffer and receive window are Linux's; packetdrill reads only listed segments); the line stays
            continue
        if s == "--rfc1337":
            extra.append("net.ipv4.tcp_rfc1337=1")
            continue
        if is_outbound(line) and not keep_windows:
            line = re.sub(r"\s+win\s+\d+", "", line)
            if re.search(r">\s+(\[[^\]]*\]\s+)?S", line):  # an [ip fields] annotation may come first
                line = re.sub(r"wscale\s+\d+", f"wscale {wscale}", line)
        out.append(line)
    # packetdrill's tun0 takes TSO frames (TUNSETOFFLOAD); without TSO the kernel cuts each GSO packet into MSS
    # segments before tun0 (PSH on its last), which is the wire UserTcp's runner plays. In the untimed init command,
    # which packetdrill runs once tun0 exists (run.c): the script's own gets it appended, else it goes before the
    # first event on the same line, so line numbers stay the script's and no event is delayed.
    first = first_event(out)
    ticks = [k for k in range(first) if "`" in out[k] and not out[k].strip().startswith("//")]
    if ticks:
        k = ticks[-1]
        at = out[k].rindex("`")
        out[k] = out[k][:at] + "; " + TSO_OFF + out[k][at:]
    elif first < len(out):
        out[first] = f"`{TSO_OFF}` " + out[first]
    return "\n".join(out) + "\n", extra


TSO_OFF = "ethtool -K tun0 tso off"


def first_event(lines):
    """Index of the first timed line, after the options and an untimed back-quoted block (which may span lines)."""
    in_block = False
    for i, line in enumerate(lines):
        s = line.strip()
        if not in_block and not s.startswith("//") and re.match(r"^(\+?[0-9][0-9.]*(\.\.\.[0-9.]+)?|\*)\s+\S", s):
            return i
        if line.count("`") % 2 == 1:
            in_block = not in_block
    return len(lines)


def strip_unreadable_code(text):
    """Code blocks packetdrill cannot evaluate become `true` commands at the same time, line for line.

    packetdrill runs a %{ }% block on TCP_INFO read with getsockopt from the socket under test (code.c), which is
    the last socket()/accept() descriptor, or, after an inbound SYN reaches a listener, the new connection that has
    no descriptor until accept(); after close() of it there is none either, and packetdrill fails the script ("can't
    find getsockopt to get TCP info"). UserTcp's runner reads that connection's row anyway (docs/scripts.md), so our
    scripts assert states such as TIME_WAIT after close(); those blocks are left out on Linux, and counted."""
    lines = text.splitlines()
    listening, under, stripped = set(), None, 0
    i = 0
    while i < len(lines):
        line = lines[i]
        code = line.split("//", 1)[0] if "%{" not in line else line
        m = re.search(r"\bsocket\([^)]*\)\s*=\s*(\d+)", code)
        if m:
            under = m.group(1)
        m = re.search(r"\blisten\((\d+),", code)
        if m:
            listening.add(m.group(1))
        m = re.search(r"\baccept4?\((\d+),[^)]*\)\s*=\s*(\d+)", code)
        if m:
            under = m.group(2)
        if re.search(r"(^|\s)<\s+S\s", code) and under in listening:
            under = "child"   # run_packet.c: a child socket for the SYN, no descriptor until accept()
        m = re.search(r"\bclose\((\d+)\)", code)
        if m and m.group(1) == under:
            under = "closed"
        if "%{" in code and under in ("child", "closed"):
            end = i
            while "}%" not in lines[end] and end + 1 < len(lines):
                end += 1
            time = re.match(r"^\s*(\S+)\s+%\{", lines[i])
            lines[i] = (f"{time.group(1)} `true`" if time else "") + "  // linux-check: block left out (no descriptor)"
            for j in range(i + 1, end + 1):
                lines[j] = ""
            stripped += 1
            i = end
        i += 1
    return "\n".join(lines) + "\n", stripped


def check_echoes(script, output):
    """Outbound TS ecr against the script's, in order: packetdrill maps it but does not compare it; our runner does."""
    expected = []
    for number, line in enumerate(script.splitlines(), 1):
        if is_outbound(line):
            m = re.search(r"TS val \S+ ecr (\d+)", line)
            expected.append((number, int(m.group(1)) if m else None))
    sniffed = [re.search(r"TS val \d+ ecr (\d+)", l) for l in output.splitlines() if "outbound sniffed packet" in l]
    problems = []
    for (number, want), got in zip(expected, sniffed):
        if want is not None and got is not None and int(got.group(1)) != want:
            problems.append(f"line {number}: Linux echoes TS ecr {got.group(1)}, the script expects {want}")
    return problems


def first_error(output):
    lines = [l for l in output.splitlines() if l.strip()]
    # packetdrill runs every %{ }% block at the end, in one python3 (code.c): name the block's line and assertion.
    for i, l in enumerate(lines):
        if re.search(r"\.pkt:\d+: error in Python code", l):
            frame = next((j for j in range(i + 1, len(lines)) if re.match(r'\s*File ".*", line \d+', lines[j])), None)
            source = lines[frame + 1].strip() if frame is not None and frame + 1 < len(lines) else ""
            values = ", ".join(sorted(set(re.findall(r"tcpi_\w+", source))))
            n = re.search(r"\.pkt:(\d+): error in Python code", l).group(1)
            block = next((k for k, x in enumerate(lines) if x.strip() == f"_line = {n}"), i)
            shown = [f"{v} = {found[-1]}" for v in values.split(", ") if v
                     for found in [re.findall(rf"^{v} = (\S+)$", "\n".join(lines[:block]), re.M)] if found]
            return l.strip() + (f": {source}" if source else "") + (f" (Linux: {', '.join(shown)})" if shown else "")
    for l in lines:
        if re.search(r"error|FAIL|fail|expected|assert|Timeout|timed out", l) and "outbound sniffed packet" not in l \
                and "inbound injected packet" not in l:
            return l.strip()
    return lines[-1].strip() if lines else "(no output)"


def namespace_counters(ns):
    """The namespace's Tcp and TcpExt counters that are not zero: what the script's run made Linux count, as the
    namespace was made for it (`nstat -as`: absolute values, no history file)."""
    r = subprocess.run(["ip", "netns", "exec", ns, "nstat", "-as"], capture_output=True, text=True)
    counted = [line.split()[:2] for line in r.stdout.splitlines()
               if line.startswith(("Tcp", "TcpExt")) and len(line.split()) >= 2]
    return "\n      Linux counted: " + (", ".join(f"{name} {value}" for name, value in counted) or "nothing")


def run_one(index, path, args, namespaces):
    text = open(path).read()
    reason = skip_reason(text)
    if reason is not None:
        return ("skip", reason)
    timeout = max(args.timeout, marked_timeout(text) or 0)
    if timeout > args.timeout_cap:
        return ("skip", f"needs {timeout} s of real time, over --timeout-cap {args.timeout_cap}")
    sysctls = list(args.world) + ([] if args.socket_cc else [f"net.ipv4.tcp_congestion_control={args.cc}"]) \
        + list(args.sysctl)
    rmem = next((s for s in reversed(sysctls) if s.startswith("net.ipv4.tcp_rmem=")), "x=0 0 0")
    converted, extra = rewrite(text, linux_window_scale(int(rmem.split("=", 1)[1].split()[2])), keeps_windows(text),
                               args.cc if args.socket_cc else None)
    sysctls += extra
    converted, stripped = strip_unreadable_code(converted)
    note = f" ({stripped} code block{'s' if stripped != 1 else ''} left out: no descriptor)" if stripped else ""
    ns = f"lcheck-{os.getpid()}-{index}"
    with tempfile.TemporaryDirectory(prefix="linux-check-") as tmp:
        script = os.path.join(tmp, os.path.basename(path))
        with open(script, "w") as f:
            f.write(converted)
        try:
            namespaces.add(ns)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, capture_output=True)
            for s in sysctls:
                r = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", s], capture_output=True, text=True)
                if r.returncode != 0:
                    return ("fail", f"sysctl {s}: {r.stderr.strip()}")
            flags = PACKETDRILL_FLAGS + [f"--tolerance_usecs={args.tolerance_usecs}", "-v"] + list(args.flag)
            cmd = ["ip", "netns", "exec", ns, args.packetdrill] + flags + [script]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
                                    start_new_session=True)
            namespaces.started(proc)
            try:
                output, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return ("fail", f"timed out after {timeout} s")
            finally:
                namespaces.finished(proc)
            if args.keep_output:
                with open(os.path.join(args.keep_output, path.replace("/", "_") + ".log"), "w") as f:
                    f.write(output)
            if args.nstat:
                note += namespace_counters(ns)
            if proc.returncode != 0:
                return ("fail", first_error(output).replace(script, os.path.basename(path)) + note)
            problems = check_echoes(converted, output) if not args.no_ecr_check else []
            return ("fail", problems[0] + note) if problems else ("pass", note.strip())
        finally:
            namespaces.remove(ns)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packetdrill", default=os.environ.get("PACKETDRILL"), help="the packetdrill binary (or $PACKETDRILL)")
    p.add_argument("--cc", default="cubic", help="the namespace's tcp_congestion_control (the runner's default: cubic)")
    p.add_argument("--sysctl", action="append", default=[], metavar="NAME=VALUE", help="another namespace sysctl (repeatable)")
    p.add_argument("--flag", action="append", default=[], metavar="--OPT=V", help="another packetdrill flag (repeatable)")
    p.add_argument("--tolerance-usecs", type=int, default=10000,
                   help="packetdrill's --tolerance_usecs (default 10000: Linux's timers run on jiffies, 4 ms at HZ=250, "
                        "and fire up to a jiffy late; UserTcp's runner keeps packetdrill's 4000 on its exact clock)")
    p.add_argument("--timeout", type=int, default=180, help="seconds per script (default 180, as upstream run_all.py)")
    p.add_argument("--timeout-cap", type=int, default=1200,
                   help="longest a script's own `linux-check: timeout` may ask for; longer ones are not run (default 1200)")
    p.add_argument("--jobs", type=int, default=2, choices=[1, 2], help="scripts at once (at most 2)")
    p.add_argument("--no-ecr-check", action="store_true", help="do not compare outbound TS ecr with the script's")
    p.add_argument("--keep-output", metavar="DIR", help="write each script's packetdrill output to DIR")
    p.add_argument("--nstat", action="store_true",
                   help="after each script, print the Tcp and TcpExt counters Linux counted in its namespace (nstat)")
    p.add_argument("scripts", nargs="*", help="default: tests/scripts/**/*.pkt")
    args = p.parse_args()
    args.world = RUNNER_WORLD
    if os.geteuid() != 0:
        print("linux-check: run as root (namespaces and packetdrill's TUN device need it)", file=sys.stderr)
        return 2
    if not args.packetdrill or not os.access(args.packetdrill, os.X_OK):
        print("linux-check: give --packetdrill PATH (a built packetdrill binary)", file=sys.stderr)
        return 2
    args.packetdrill = os.path.abspath(args.packetdrill)
    if args.keep_output:
        os.makedirs(args.keep_output, exist_ok=True)
    scripts = args.scripts or sorted(glob.glob(os.path.join(REPO, "tests/scripts/**/*.pkt"), recursive=True))
    names = [os.path.relpath(s, REPO) if os.path.abspath(s).startswith(REPO + "/") else s for s in scripts]

    namespaces = Namespaces()
    args.socket_cc = not default_cc_settable(args.cc, namespaces)

    def on_signal(signum, _frame):
        namespaces.tear_down()
        print(f"\nlinux-check: stopped by signal {signum}; namespaces removed", file=sys.stderr)
        os._exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    counts = {"pass": 0, "fail": 0, "skip": 0}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_one, i, s, args, namespaces) for i, s in enumerate(scripts)]
            for name, future in zip(names, futures):
                try:
                    verdict, detail = future.result()
                except Exception as e:  # a broken set-up is this script's failure, not the run's
                    verdict, detail = "fail", f"linux-check: {e}"
                counts[verdict] += 1
                label = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[verdict]
                if verdict == "skip":
                    print(f"SKIP  {name}  -- not run: {detail}", flush=True)
                elif verdict == "pass":
                    print(f"PASS  {name}" + (f"  {detail}" if detail else ""), flush=True)
                else:
                    print(f"FAIL  {name}\n      {detail}", flush=True)
    finally:
        namespaces.tear_down()
    print(f"linux-check: {len(scripts)} scripts: {counts['pass']} pass, {counts['fail']} fail, "
          f"{counts['skip']} not run (linux-check markers); kernel {os.uname().release}, cc {args.cc}"
          + (" (per socket: TCP_CONGESTION after each socket())" if args.socket_cc else " (namespace default)"))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
