#!/usr/bin/env python3
"""Runs the upstream packetdrill TCP corpus and gVisor's packetdrill scripts through `usertcp script --relaxed`
and writes the conformance report (docs/conformance.md).

Called by run.sh, which builds the CLI; see tools/conformance/README.md. The scripts are read where the user's
checkouts keep them; nothing of them is copied except the path of each script and, for a failure, its failing line.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))

# The directories issue 14 names as in scope (and fastopen, since UserTcp has TCP Fast Open), and those it allows out
# of scope, with the reason.
IN_SCOPE = ["blocking", "close", "shutdown", "fast_retransmit", "fast_recovery", "limited_transmit", "sack", "ts_recent",
            "nagle", "slow_start", "cubic", "cwnd_moderation", "mss", "validate", "syscall_bad_arg", "user_timeout",
            "tcp_info", "inq", "eor", "notsent_lowat", "ecn", "fastopen"]
OUT_OF_SCOPE = {
    "md5": "TCP MD5 signatures (RFC 2385) need keys per peer (TCP_MD5SIG); the md5 option is parsed, not signed",
    "zerocopy": "MSG_ZEROCOPY sends and their completion notifications on the error queue (SO_ZEROCOPY, recvmsg "
                "MSG_ERRQUEUE): a Linux kernel-memory feature",
    "splice": "splice(2) between pipes and sockets: a Linux kernel-memory feature",
    "sendfile": "sendfile(2) from a file: a Linux kernel-memory feature",
    "timestamping": "SO_TIMESTAMPING transmit timestamps from the kernel and the NIC on the error queue",
    "gro": "Generic receive offload merging received segments in the kernel, below TCP",
    "mtu_probe": "Packetization-layer path MTU probing (RFC 4821, tcp_mtu_probing) over IPv4 and IPv6",
}
# Run and reported, but not counted with the in-scope set.
ALSO_RUN = {
    "epoll": "epoll_create/epoll_ctl/epoll_wait over TCP sockets",
    "ioctl": "ioctl(SIOCINQ/SIOCOUTQ)",
}
# Why a gVisor script that fails does (the issue asks for each to be explained).
GVISOR_NOTES = {
    "listen_close_before_handshake_complete.pkt": "Closing a listener resets its half-open connections with RST|ACK (Linux's active "
                                                  "reset); the script expects a bare RST: an engine difference.",
}
# Why an upstream script that fails is left failing, where that was decided (docs/design.md, "Where the upstream
# packetdrill corpus still sees another behaviour"): shown after the reason while the script fails.
UPSTREAM_NOTES = {
    "ts_recent/invalid_ack.pkt": "Linux 6.18 sends the same ACK (RFC 5961 §5.2); the script predates it",
    "fast_retransmit/fr-4pkt-fack-last-mss.pkt": "RACK's reorder timer at RTT/4 (RFC 8985); 40 ms fits HZ 250's jiffy rounding",
    "cubic/cubic-bulk-166k-idle-restart.pkt": "Linux under fq paces the restarted window, so its first ACKs after the idle grow nothing; fq is not applied",
    "cubic/cubic-rto-ss-ca-cwnd-bump.pkt": "PSH inside a long write follows Linux's skb sizes (deviation)",
    "notsent_lowat/notsent-lowat-default.pkt": "Linux 6.18 sends 10001:30001 (20000) here too (tcp_grow_skb); the script expects an older kernel's 16000-byte skb",
    "epoll/epoll_out_edge.pkt": "Linux 6.18 sends 10001:30001 (20000) here too (tcp_grow_skb); the script expects an older kernel's 16000-byte skb",
    "epoll/epoll_out_edge_default_notsent_lowat.pkt": "Linux 6.18 sends 10001:30001 (20000) here too (tcp_grow_skb); the script expects an older kernel's 16000-byte skb",
    "epoll/epoll_out_edge_notsent_lowat.pkt": "Linux 6.18 sends 10001:30001 (20000) here too (tcp_grow_skb); the script expects an older kernel's 16000-byte skb",
    "cwnd_moderation/cwnd-moderation-ecn-enter-cwr-no-moderation-700.pkt": "Linux 6.18 has cwnd 5 here too (CWR, ssthresh 7): its "
        "tcp_cwnd_reduction adds a segment for an ACK that advanced SND.UNA and marked nothing lost; the script expects an older kernel's 4",
    "slow_start/slow-start-fq-ack-per-2pkt.pkt": "the spacing is the fq qdisc's (the script's `tc qdisc replace dev tun0 root fq`: "
        "packets held to the pacing rate, 200 % of cwnd/SRTT in slow start), which UserTcp does not model; Linux 6.18 without fq "
        "(pfifo_fast) sends this packet at the same ACK as UserTcp, and with a 20 ms tolerance the script, its cwnd checks included, passes",
}
# gVisor's packetdrill_test.sh runs its scripts with --tolerance_usecs=100000; upstream's run_all.py with the default.
GVISOR_OPTIONS = ["tolerance_usecs=100000"]
# What upstream's run_all.py passes for its IPv4 runs (-D).
DEFINES = ["TFO_COOKIE=3021b9d889017eeb", "CODE=host_unreachable", "CMSG_LEVEL_IP=SOL_IP", "CMSG_TYPE_RECVERR=IP_RECVERR"]

# ─────────── classifying a failure ───────────
# (a) the socket surface the runner does not offer yet, (b) UserTcp behaves otherwise than Linux, (c) grammar or
# runner features. Each rule gives the class and the reason in a few words.
CLASSES = {
    "a": "socket surface missing",
    "b": "engine behaviour differs",
    "c": "grammar or runner",
}


def classify(message):
    m = message
    rules = [
        (r"^cannot read the script: (.*)", "c", lambda g: g[0]),
        (r"^system call `(\w+)` is not supported", "a", lambda g: f"{g[0]}() not supported"),
        (r"^(set|get)sockopt\((\w+), (\w+)\) is not supported", "a", lambda g: f"{g[0]}sockopt {g[2]} not supported"),
        (r"^(tcpi_\w+) is not available", "a", lambda g: f"TCP_INFO field {g[0]} not tracked"),
        (r"^(\w+)\(.*\) is not supported", "a", lambda g: f"{g[0]} arguments not supported"),
        (r"^getsockopt\((\w+)\) gave \[(\d+)\], the script expects (\[\d+\])", "a", lambda g: f"getsockopt {g[0]} gave {g[1]}, expected {g[2]}"),
        (r"^`(\w+)\(([^`]*)\)` returned (\d+), the script expects -1 (E\w+)", "a", lambda g: f"{g[0]} returned {g[2]} instead of {g[3]}"),
        (r"^(send|recv|sendto|recvfrom|write|read) flags other than 0 are not supported", "a", lambda g: f"{g[0]} flags not supported"),
        (r"^(.*) is not supported: ", "c", lambda g: f"{g[0]} not supported"),
        (r"^expected `([^`]*)` .*, got `([^`]*)` at [\d.]+ s \((.*)\)$", "b", lambda g: f"`{g[0]}`: {g[2]}"),
        (r"^expected `([^`]*)` .*, got it at [\d.]+ s, ([\d.]+) s (early|late)", "b", lambda g: f"`{g[0]}` {g[1]} s {g[2]}"),
        (r"^expected `([^`]*)` .*, got nothing", "b", lambda g: f"`{g[0]}` never sent"),
        (r"^UserTcp sent `([^`]*)` at ([\d.]+) s.*no line expects it", "b", lambda g: f"unexpected `{g[0]}`"),
        (r"^UserTcp sent `([^`]*)` .*script ended", "b", lambda g: f"unexpected `{g[0]}` at the end"),
        (r"^assertion `([^`]*)` failed at [\d.]+ s: (.*)", "b", lambda g: f"`{g[0]}`: {g[1]}"),
        (r"^`(\w+)\(([^`]*)\)` returned (.*), the script expects (.*)", "b", lambda g: f"{g[0]} returned {g[2]}, expected {g[3]}"),
        (r"^`(\w+)\(([^`]*)\)` blocks and nothing can wake it", "b", lambda g: f"{g[0]} blocks forever"),
        (r"^`(\w+)\(([^`]*)\)` returned (.*) at [\d.]+ s; the script expects it to (block|return)", "b", lambda g: f"{g[0]} returned at another time"),
        (r"^this line is due at", "b", lambda g: "an earlier line took too long"),
    ]
    for pattern, cls, reason in rules:
        match = re.match(pattern, m)
        if match:
            return cls, shorten(reason(match.groups()))
    return "b", shorten(m)


def generalize(reason):
    """A reason without its script's numbers, so that the same difference in several scripts counts together."""
    def packet(match):
        spec = match.group(1)
        flags = spec.split()[1] if len(spec.split()) > 1 else ""
        pure = "(0)" in spec
        kind = "RST" if "R" in flags else "SYN" if "S" in flags else "FIN" if "F" in flags else "ACK" if pure else "data"
        return kind
    text = re.sub(r"`(> [^`]*)`", packet, reason)
    text = re.sub(r"`(< [^`]*)`", "inbound segment", text)
    text = re.sub(r"seq \d+ instead of \d+", "another seq", text)
    text = re.sub(r"\d+ payload bytes instead of \d+", "another length", text)
    text = re.sub(r"`tcpi_(\w+) == [^`]*`: tcpi_\w+ is \d+", r"tcpi_\1 differs", text)
    text = re.sub(r"[\d.]+ s (late|early)", r"\1", text)
    return text


def shorten(text, limit=110):
    text = text.replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ─────────── running ───────────

def arguments(extra):
    return ["script", "--relaxed"] + [a for d in DEFINES for a in ("-D", d)] + [a for o in extra for a in ("-O", o)]


def run_batch(usertcp, paths, timeout, extra=()):
    """Runs the scripts in one `usertcp script` process (each line of its output names its script); a script the
    batch did not report on, or a batch that did not finish, is run again on its own."""
    cmd = usertcp + arguments(extra) + list(paths)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * max(1, len(paths) // 10))
        out, err = done.stdout.splitlines(), done.stderr.splitlines()
    except subprocess.TimeoutExpired:
        out, err = [], []
    results = {}
    for path in paths:
        prefix = path + ": "
        mine_out = [l[len(prefix):] for l in out if l.startswith(prefix)]
        mine_err = [l[len(prefix):] for l in err if l.startswith(prefix)]
        if not mine_out and not mine_err:
            results[path] = run_one(usertcp, path, timeout, extra)
            continue
        results[path] = outcome(mine_out, mine_err)
    return results


def run_one(usertcp, path, timeout, extra=()):
    cmd = usertcp + arguments(extra) + [path]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "fail", "line": 0, "message": f"did not finish within {timeout} s", "notices": []}
    # Alone, a script's lines start with its file name.
    prefix = os.path.basename(path) + ": "
    mine_out = [l[len(prefix):] for l in done.stdout.splitlines() if l.startswith(prefix)]
    mine_err = [l[len(prefix):] for l in done.stderr.splitlines() if l.startswith(prefix)]
    if not mine_out and not mine_err:
        return {"status": "fail", "line": 0, "message": f"exit code {done.returncode}: {done.stderr.strip()[:200]}", "notices": []}
    return outcome(mine_out, mine_err)


def outcome(out, err):
    """One script's result from its lines of output: `pass (...)` on stdout, else its failure and notices on stderr."""
    notices = [l.split("notice: ", 1)[1] for l in err if l.startswith("notice: ")]
    if any(l.startswith("pass") for l in out):
        return {"status": "pass", "line": 0, "message": "", "notices": notices}
    errors = [l for l in err if not l.startswith("notice: ") and l.strip()]
    text = errors[0] if errors else "no result"
    line = 0
    match = re.match(r"line (\d+): (.*)", text)
    if match:
        line, text = int(match.group(1)), match.group(2)
    return {"status": "fail", "line": line, "message": text, "notices": notices}


def script_line(path, number):
    if number <= 0:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, text in enumerate(f, 1):
                if i == number:
                    return text.strip()
    except OSError:
        pass
    return ""


def find(root, suffix):
    found = []
    for dirpath, _, files in os.walk(root):
        found.extend(os.path.join(dirpath, f) for f in files if f.endswith(suffix))
    return sorted(found)


def git_head(path):
    """The commit a tree came from: its git HEAD, or for an exported tree (git archive) the REVISION file at its root."""
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open(os.path.join(path, "REVISION"), encoding="utf-8") as f:
            return f.read().strip()[:12] or "unknown"
    except OSError:
        return "unknown (not a git checkout and no REVISION file)"


def load_results(name):
    """before.tsv (main at 4ff1cc0, before the runner read the upstream grammar) or baseline.tsv (the last recorded run)."""
    results = {}
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return results
    with open(path, encoding="utf-8") as f:
        for row in f:
            key, status = row.rstrip("\n").split("\t")[:2]
            results[key] = status
    return results


def find_scripts(packetdrill, gvisor):
    tcp_root = os.path.join(packetdrill, "gtests", "net", "tcp")
    gvisor_root = os.path.join(gvisor, "test", "packetdrill")
    for root in (tcp_root, gvisor_root):
        if not os.path.isdir(root):
            sys.exit(f"report.py: no scripts at {root}: point --packetdrill and --gvisor at the checkouts")
    scripts = [("tcp/" + os.path.relpath(p, tcp_root), p) for p in find(tcp_root, ".pkt")]
    scripts += [("gvisor/" + os.path.relpath(p, gvisor_root), p) for p in find(gvisor_root, ".pkt")]
    return scripts


def run_all(usertcp, scripts, timeout):
    """Every script, in batches of one process each; returns {key: result}."""
    results = {}
    batch = 40
    chunks = []
    for source, extra in (("tcp/", ()), ("gvisor/", GVISOR_OPTIONS)):
        mine = [s for s in scripts if s[0].startswith(source)]
        chunks += [(mine[i:i + batch], extra) for i in range(0, len(mine), batch)]
    for n, (chunk, extra) in enumerate(chunks, 1):
        done = run_batch(usertcp, [p for _, p in chunk], timeout, extra)
        for key, path in chunk:
            r = done[path]
            r["path"] = path
            if r["status"] == "fail":
                r["class"], r["reason"] = classify(r["message"])
                r["text"] = script_line(path, r["line"])
            results[key] = r
        print(f"[batch {n}/{len(chunks)}]", file=sys.stderr)
    return results


# ─────────── the report ───────────

def percent(n, d):
    return f"{100 * n / d:.0f} %" if d else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packetdrill", required=True, help="checkout of google/packetdrill")
    parser.add_argument("--gvisor", required=True, help="checkout of google/gvisor")
    parser.add_argument("--usertcp", required=True, help="command that runs the CLI, e.g. 'dotnet path/usertcp.dll'")
    parser.add_argument("--out", required=True, help="the report to write (docs/conformance.md)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds one script may take")
    parser.add_argument("--record", action="store_true", help="also write baseline.tsv, the results CI's check guards")
    args = parser.parse_args()

    scripts = find_scripts(args.packetdrill, args.gvisor)
    results = run_all(args.usertcp.split(), scripts, args.timeout)
    baseline = load_results("before.tsv")

    def group(key):
        parts = key.split("/")
        return "gvisor" if parts[0] == "gvisor" else parts[1]

    def scope(g):
        return "gvisor" if g == "gvisor" else "in" if g in IN_SCOPE else "also" if g in ALSO_RUN else "out" if g in OUT_OF_SCOPE else "other"

    by_group = defaultdict(list)
    for key in results:
        by_group[group(key)].append(key)

    def count(keys, source):
        return sum(1 for k in keys if source.get(k) == "pass")

    now = {k: r["status"] for k, r in results.items()}
    sets = {
        "all": list(results),
        "in": [k for k in results if scope(group(k)) == "in"],
        "gvisor": [k for k in results if scope(group(k)) == "gvisor"],
        "also": [k for k in results if scope(group(k)) == "also"],
        "out": [k for k in results if scope(group(k)) in ("out", "other")],
    }

    out = []
    w = out.append
    w("# Conformance: the upstream packetdrill TCP corpus and gVisor's packetdrill scripts")
    w("")
    w("Linux's own TCP tests, and gVisor's, run through `usertcp script --relaxed` (docs/scripts.md) with the")
    w("definitions upstream's `run_all.py` passes for IPv4 (`-D " + " -D ".join(DEFINES) + "`); gVisor's scripts with the")
    w("tolerance its `packetdrill_test.sh` gives them (`-O " + " -O ".join(GVISOR_OPTIONS) + "`).")
    w(f"Generated by `tools/conformance/run.sh` on {datetime.date.today().isoformat()}: UserTcp {git_head(os.path.join(HERE, '..', '..'))}, "
      f"packetdrill {git_head(args.packetdrill)}, gVisor {git_head(args.gvisor)}. The scripts are not copied here; run the tool")
    w("against your own checkouts to reproduce it (tools/conformance/README.md).")
    w("")
    w("| scripts | before (main at 4ff1cc0) | now |")
    w("|---|---|---|")
    labels = [("all", "all upstream and gVisor scripts"), ("in", "upstream, in-scope directories"), ("gvisor", "gVisor"),
              ("also", "upstream, epoll and ioctl"), ("out", "upstream, out-of-scope directories")]
    for name, label in labels:
        keys = sets[name]
        b, n = count(keys, baseline), count(keys, now)
        w(f"| {label} ({len(keys)}) | {b} ({percent(b, len(keys))}) | **{n}** ({percent(n, len(keys))}) |")
    w("")
    w("\"Before\" is `usertcp script --relaxed` on main as it was when this work started (tools/conformance/before.tsv). CI's")
    w("conformance check (tools/conformance/check.sh, from scripts/test.sh) fails when a script that passes here stops passing")
    w("(tools/conformance/baseline.tsv records this run).")
    w("")

    failing_in = [k for k in sets["in"] + sets["gvisor"] + sets["also"] if now[k] == "fail"]
    w("## Why the rest fail (in-scope directories, gVisor, epoll and ioctl)")
    w("")
    w("Each failing script counts once, by its first failure; the classes are (a) socket surface the runner does not offer")
    w("yet, (b) UserTcp behaves otherwise than Linux, (c) grammar or runner features.")
    w("")
    w("| class | in scope | gVisor | epoll, ioctl | most common reasons |")
    w("|---|---|---|---|---|")
    for cls, label in CLASSES.items():
        keys = [k for k in failing_in if results[k]["class"] == cls]
        reasons = Counter(generalize(results[k]["reason"]) for k in keys)
        common = "; ".join(f"{r} ({c})" for r, c in reasons.most_common(8))
        per = [sum(1 for k in keys if k in sets[name]) for name in ("in", "gvisor", "also")]
        w(f"| ({cls}) {label} | {per[0]} | {per[1]} | {per[2]} | {common} |")
    w("")

    def table(keys, out_of_scope=False):
        w("| script | before | now | first failing line | reason |")
        w("|---|---|---|---|---|")
        for k in sorted(keys):
            r = results[k]
            name = k.split("/", 2)[-1] if k.startswith("tcp/") else k.split("/", 1)[1]
            if r["status"] == "pass":
                w(f"| {name} | {baseline.get(k, '-')} | {'out of scope (passes)' if out_of_scope else '**pass**'} | | |")
            else:
                line = f"{r['line']}: `{shorten(r['text'], 60).replace('`', '')}`" if r["line"] else ""
                now_text = "out of scope" if out_of_scope else f"fail ({r['class']})"
                note = UPSTREAM_NOTES.get(k.split("/", 1)[1]) if k.startswith("tcp/") else None
                reason = f"{r['reason']}; *{note}*" if note else r["reason"]
                w(f"| {name} | {baseline.get(k, '-')} | {now_text} | {line} | {reason} |")
        w("")

    w("## In-scope directories")
    w("")
    for g in IN_SCOPE:
        keys = by_group.get(g, [])
        w(f"### {g}: {count(keys, now)} of {len(keys)} pass")
        w("")
        table(keys)
    w("## gVisor's scripts")
    w("")
    table(by_group.get("gvisor", []))
    for k in sorted(by_group.get("gvisor", [])):
        name = k.split("/", 1)[1]
        if results[k]["status"] == "fail" and name in GVISOR_NOTES:
            w(f"- **{name}**: {GVISOR_NOTES[name]}")
    w("")
    w("## Also run: epoll and ioctl")
    w("")
    w("Not in the issue's in-scope list; they exercise the socket calls beyond it (" + "; ".join(f"{g}: {why}" for g, why in ALSO_RUN.items()) + ").")
    w("")
    for g in ALSO_RUN:
        keys = by_group.get(g, [])
        w(f"### {g}: {count(keys, now)} of {len(keys)} pass")
        w("")
        table(keys)
    w("## Out of scope")
    w("")
    w("| directory | scripts | pass anyway | why |")
    w("|---|---|---|---|")
    others = sorted(g for g in by_group if scope(g) in ("out", "other"))
    for g in others:
        keys = by_group[g]
        w(f"| {g} | {len(keys)} | {count(keys, now)} | {OUT_OF_SCOPE.get(g, 'not named by the issue')} |")
    w("")
    w("Each out-of-scope script still runs; the first reason each stops:")
    w("")
    for g in others:
        w(f"<details><summary>{g}</summary>")
        w("")
        table(by_group[g], out_of_scope=True)
        w("</details>")
        w("")

    notices = Counter()
    for r in results.values():
        for n in r["notices"]:
            notices[re.sub(r"^line \d+: (\S+\.sh: )?", "", n)] += 1
    w("## Set-up that was not applied")
    w("")
    w("Settings from the scripts' back-quoted blocks that UserTcp has no equivalent for, or only an approximation of")
    w("(docs/scripts.md, \"Set-up commands\"), with the number of scripts that make them; `--relaxed` goes on without them.")
    w("")
    w("| setting | scripts |")
    w("|---|---|")
    for n, c in notices.most_common():
        w(f"| {shorten(n, 160)} | {c} |")
    w("")

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    if args.record:
        with open(os.path.join(HERE, "baseline.tsv"), "w", encoding="utf-8") as f:
            f.writelines(f"{k}\t{now[k]}\n" for k, _ in scripts)
    total = len(results)
    print(f"conformance: {count(sets['all'], now)} of {total} pass; in scope {count(sets['in'], now)} of {len(sets['in'])}; "
          f"gVisor {count(sets['gvisor'], now)} of {len(sets['gvisor'])}; report in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
