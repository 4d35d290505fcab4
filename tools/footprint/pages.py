#!/usr/bin/env python3
"""usage: pages.py PID [SECONDS] [--list]

The memory pages a running process touches within SECONDS (default 0.3): clears the accessed bits of its page tables
(/proc/PID/clear_refs) and then counts the pages /proc/PID/smaps reports as Referenced, per mapping. A stand-in for TLB
counters on a VM without them (README "Performance", request/response): on a kernel with page-table isolation and no
PCID every system call empties the TLB, so each distinct page a request touches costs a page walk.

Pages of the shared C libraries (libc, ld.so, libm, libstdc++, libgcc) are counted apart: the kernel also reports them
referenced when another process touched them, so they say little about this one.
"""
import re
import sys
import time

SHARED = re.compile(r"/(libc|ld-linux[^/]*|libm|libstdc\+\+|libgcc_s)\.so")


def clear_refs(pid: str) -> None:
    """Clears the accessed bits of the process's page tables; raises OSError when it cannot."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("1")


def referenced(pid: str) -> list:
    """Every mapping of the process with its size and the pages referenced since the last clear_refs."""
    rows, row = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                start, end = (int(x, 16) for x in parts[0].split("-"))
                row = {"range": parts[0], "perms": parts[1], "name": parts[5] if len(parts) > 5 else "[anon]",
                       "size": (end - start) // 4096, "referenced": 0}
                rows.append(row)
            elif line.startswith("Referenced:") and row is not None:
                row["referenced"] = int(line.split()[1]) // 4
    return rows


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    pid, seconds = args[0], float(args[1]) if len(args) > 1 else 0.3
    try:
        clear_refs(pid)
    except OSError as e:
        print(f"pages.py: cannot clear the accessed bits of process {pid} ({e.strerror}); run as root with a live pid", file=sys.stderr)
        return 1
    time.sleep(seconds)
    rows = referenced(pid)
    touched = [r for r in rows if r["referenced"] > 0]
    own = [r for r in touched if not SHARED.search(r["name"])]
    shared = sum(r["referenced"] for r in touched if SHARED.search(r["name"]))
    print(f"pages touched in {seconds:g} s: {sum(r['referenced'] for r in own)} in {len(own)} mappings "
          f"(largest anonymous one: {max((r['size'] for r in own if r['name'] == '[anon]'), default=0)} pages); "
          f"shared C libraries: {shared}")
    if "--list" in sys.argv:
        for r in sorted(own, key=lambda r: -r["referenced"]):
            print(f"{r['referenced']:6} of {r['size']:7}  {r['range']} {r['perms']} {r['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
