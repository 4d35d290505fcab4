#!/usr/bin/env python3
"""usage: per_request.py PID HOST PORT [WARMUP_SECONDS] [REQUESTS] [--after-pause]

The memory pages a server touches to answer ONE one-byte echo request (README "Performance", request/response). Run it
as the client, in the server's namespace and on the server's vCPU. It warms the server up with back-to-back requests,
then REQUESTS times: waits 0.1 s, sends 50 requests back to back, clears the server's accessed bits, sends one more,
reads the answer and counts the pages the server referenced meanwhile (pages.py); --after-pause leaves out the 50, so
the counted request comes 0.1 s after the one before. As many windows with no request, each
as long as a counted request took, give the server's own background. pages.py's windows count what a period of load
touched; this counts what one request of a stream touches, which on a kernel with page-table isolation and no PCID are
the pages that cost a page walk each.
"""
import collections
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pages import SHARED, clear_refs, referenced  # noqa: E402

# Back-to-back requests before each one counted: after a pause the first request also pays for what a pause leaves
# undone (UserTcp re-arms its shard's timer, waking its thread: ~75 more pages), which a stream of requests does not.
STREAM = 50


def kind(row: dict) -> str:
    """A mapping's name as the report groups it: the file's name, or what an anonymous mapping holds."""
    name = row["name"]
    if name.startswith("/memfd:doublemapper"):
        return "JIT code and stubs (executable view)" if "x" in row["perms"] else "JIT data and stubs (writable view)"
    return os.path.basename(name) if name.startswith("/") else name


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    pid, host, port = args[0], args[1], int(args[2])
    warmup = float(args[3]) if len(args) > 3 else 15.0
    count = int(args[4]) if len(args) > 4 else 30
    stream = 0 if "--after-pause" in sys.argv else STREAM
    conn = socket.create_connection((host, port), timeout=5)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request() -> None:
        conn.send(b"x")
        if not conn.recv(1):
            raise OSError("the server closed the connection")

    end, done = time.monotonic() + warmup, 0
    while time.monotonic() < end:  # bounded by the clock; each call by the socket's 5 s timeout
        request()
        done += 1
    print(f"warm-up: {done / warmup:.0f} requests/s for {warmup:g} s")

    def window(with_request: bool, seconds: float = 0.0) -> tuple:
        time.sleep(0.1)  # the previous window's delayed ACK, and the server's timers, are over
        if with_request:
            for _ in range(stream):  # the request is one of a stream, as in a request/response benchmark
                request()
        clear_refs(pid)
        started = time.monotonic()
        if with_request:
            request()
        else:
            time.sleep(seconds)
        took = time.monotonic() - started
        pages = collections.Counter()
        for row in referenced(pid):
            if row["referenced"]:
                pages[kind(row)] += row["referenced"]
        return pages, took

    loaded, took = zip(*(window(True) for _ in range(count)))
    idle = [window(False, statistics.median(took))[0] for _ in range(count)]

    def summary(label: str, windows: list) -> None:
        own = [sum(v for k, v in w.items() if not SHARED.search("/" + k)) for w in windows]
        shared = [sum(v for k, v in w.items() if SHARED.search("/" + k)) for w in windows]
        print(f"{label}: {statistics.median(own):g} pages [{min(own)}–{max(own)}] of its own, "
              f"{statistics.median(shared):g} of the shared C libraries (median [min–max] of {len(windows)})")

    summary("one request", loaded)
    summary("no request (background)", idle)
    print("pages per request by mapping (median over the requests):")
    kinds = sorted({k for w in loaded for k in w}, key=lambda k: -statistics.median(w.get(k, 0) for w in loaded))
    for k in kinds:
        median = statistics.median(w.get(k, 0) for w in loaded)
        if median >= 1:
            print(f"  {median:6g}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
