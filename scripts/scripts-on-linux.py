#!/usr/bin/env python3
"""Runs tests/scripts/*.pkt against the Linux kernel with packetdrill, to check that what a script pins down is what
Linux does. Each script runs in a network namespace of its own (unshare -n), tuned so Linux offers what UserTcp
offers (tcp_rmem max 256 KiB gives window scale 3), after these rewrites that only touch what the two stacks
legitimately size differently:

  - `win N` is dropped from outbound lines (Linux's windows follow its own buffer autotuning);
  - the window scale of outbound SYNs becomes the one Linux offers here (net.core.rmem_max is not per namespace, and
    Linux scales for the larger of it and tcp_rmem);
  - UserTcp-only options go: --relaxed, --local_isn, --remote_isn; --rfc1337 becomes net.ipv4.tcp_rfc1337=1;
  - packetdrill's tun0 gets gso_max_segs 1, so Linux sends one MSS per packet as UserTcp does (no TSO/GSO bursts);
    Linux then puts no PSH at the end of a burst, where UserTcp marks it as GSO would (docs/engine-v2.md);
  - packetdrill runs with 10 ms of timing tolerance: Linux's timers fire on jiffies (a 40 ms delayed ACK leaves
    after 40 to 45 ms), where UserTcp's manual clock is exact.

packetdrill does not compare an outbound TS ecr with the script's; UserTcp's runner does. So this tool runs packetdrill
verbosely and checks each outbound packet's TS ecr against the script line it matched (inbound TSvals reach the kernel
as written, so the ecr Linux sends is directly comparable).

Usage: scripts/scripts-on-linux.py [--packetdrill PATH] FILE.pkt...   (as root; prints PASS/FAIL per script)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

DEFAULT_PACKETDRILL = "/work/corpora/packetdrill/gtests/net/packetdrill/packetdrill"

# Sysctls applied inside each namespace before packetdrill runs.
SETUP = [
    "ip link set lo up",
    "sysctl -qw net.ipv4.tcp_rmem='4096 131072 262144'",
    "sysctl -qw net.ipv4.tcp_wmem='4096 262144 262144'",
    "sysctl -qw net.ipv4.tcp_congestion_control=reno",
]


def linux_window_scale() -> int:
    """tcp_select_initial_window: the smallest shift that fits max(tcp_rmem[2], net.core.rmem_max) into 16 bits."""
    with open("/proc/sys/net/core/rmem_max") as f:
        space = max(262144, int(f.read()))
    shift = 0
    while shift < 14 and space >> shift > 65535:
        shift += 1
    return shift


def rewrite(text: str) -> str:
    wscale = linux_window_scale()
    out = []
    extra = []
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"^--(relaxed|local_isn|remote_isn)(=.*)?$", stripped):
            continue
        if stripped == "--rfc1337":
            extra.append("`sysctl -q net.ipv4.tcp_rfc1337=1`")
            continue
        if re.search(r"(^|\s)>\s", line) and not stripped.startswith("//"):
            line = re.sub(r"\s+win\s+\d+", "", line)
            if re.search(r">\s+S", line):
                line = re.sub(r"wscale\s+\d+", f"wscale {wscale}", line)
        out.append(line)
    # One segment per packet on packetdrill's tun0 (UserTcp sends no TSO/GSO bursts), before the script's first event.
    extra.append("0 `ip link set dev tun0 gso_max_segs 1`")
    # Commands must come before the first event (a line that starts with its time): after the leading options and
    # the script's own untimed back-quoted block, which may span lines.
    first_event = next((i for i, l in enumerate(out) if re.match(r"\s*[+0-9.*~]", l)), len(out))
    return "\n".join(out[:first_event] + extra + out[first_event:]) + "\n"


def is_verbose_line(line: str) -> bool:
    return not re.search(r"error|FAIL|fail|assert|expected|actual|script packet", line)


def check_echoes(script: str, output: str) -> list[str]:
    """The TS ecr of every outbound packet against its script line's, in order (packetdrill skips this check)."""
    expected = []
    for number, line in enumerate(script.splitlines(), 1):
        if re.search(r"(^|\s)>\s", line) and not line.strip().startswith("//"):
            match = re.search(r"TS val \S+ ecr (\d+)", line)
            expected.append((number, int(match.group(1)) if match else None))
    sniffed = [re.search(r"TS val \d+ ecr (\d+)", l) for l in output.splitlines() if "outbound sniffed packet" in l]
    problems = []
    for (number, want), got in zip(expected, sniffed):
        if want is not None and got is not None and int(got.group(1)) != want:
            problems.append(f"line {number}: Linux echoes TS ecr {got.group(1)}, the script expects {want}")
    return problems


def run(path: str, packetdrill: str) -> tuple[bool, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".pkt", delete=False) as f:
        f.write(rewrite(open(path).read()))
        converted = f.name
    try:
        command = " && ".join(SETUP + [f"{packetdrill} -v --tolerance_usecs=10000 {converted}"])
        result = subprocess.run(["timeout", "120", "unshare", "-n", "bash", "-c", command],
                                capture_output=True, text=True)
        output = result.stdout + result.stderr
        verdict = "\n".join(l for l in output.splitlines() if not is_verbose_line(l)).strip()
        if result.returncode != 0:
            return False, verdict
        problems = check_echoes(open(converted).read(), output)
        return not problems, "\n".join(problems) or verdict
    finally:
        os.unlink(converted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packetdrill", default=DEFAULT_PACKETDRILL)
    parser.add_argument("scripts", nargs="+")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("scripts-on-linux: run as root (packetdrill needs a TUN device in its own namespace)", file=sys.stderr)
        return 2
    failed = 0
    for path in args.scripts:
        ok, output = run(path, args.packetdrill)
        print(f"{'PASS' if ok else 'FAIL'}  {path}")
        if not ok:
            failed += 1
            print("      " + "\n      ".join(output.splitlines()[-4:]))
    print(f"{len(args.scripts) - failed} of {len(args.scripts)} passed on Linux")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
