#!/bin/bash
# usage: tools/footprint/run.sh [WARMUP_SECONDS] [WINDOWS]
#        tools/footprint/run.sh --per-request [--after-pause] [--lwip] [WARMUP_SECONDS] [REQUESTS]
# As root, from the repository root, after `dotnet build src/UserTcp.Cli -c Release`. How many memory pages usertcp
# serve touches while it answers one-byte echo requests (README "Performance", request/response): the server and a Python
# request/response client share vCPU 1 in a throwaway namespace (removed on exit, also on failure).
# - By default, after the warm-up (tiering on one CPU is slow), tools/footprint/pages.py counts the pages touched in
#   WINDOWS windows of 0.3 s and 0.05 s under load, then in a 1 s window with no load, 3 s after it stopped (the
#   runtime's own background).
# - With --per-request, tools/footprint/per_request.py counts the pages one request of a stream touches (with
#   --after-pause, one that comes 0.1 s after the last), REQUESTS times (default 30), against as many windows with no
#   request. --lwip measures lwIP's server from ../shared/peers/lwip instead
#   (built here with gcc; needs liblwip-dev), the harness's reference.
set -u
MODE=windows SERVER=usertcp
PAUSE=
[ "${1:-}" = --per-request ] && { MODE=per-request; shift; }
[ "${1:-}" = --after-pause ] && { [ $MODE = per-request ] || { echo "run.sh: --after-pause goes with --per-request"; exit 2; }; PAUSE=--after-pause; shift; }
[ "${1:-}" = --lwip ] && { [ $MODE = per-request ] || { echo "run.sh: --lwip goes with --per-request"; exit 2; }; SERVER=lwip; shift; }
WARMUP=${1:-15}; COUNT=${2:-}
CLI="dotnet $PWD/src/UserTcp.Cli/bin/Release/net10.0/usertcp.dll"
NS=usertcp-fp-$$
READY=$(mktemp -u /tmp/usertcp-fp-ready.XXXXXX)
BUILD=$(mktemp -d /tmp/usertcp-fp-build.XXXXXX)
# Each is killed only while it still runs as our job: once it has ended and been reaped, its pid may name another process.
cleanup() {
  [ -n "${CLIENT:-}" ] && jobs -rp | grep -qx "$CLIENT" && kill $CLIENT
  [ -n "${PID:-}" ] && jobs -rp | grep -qx "$PID" && kill $PID
  wait 2>/dev/null; rm -f "$READY"; rm -rf "$BUILD"; ip netns del $NS 2>/dev/null
}
trap cleanup EXIT
ip netns add $NS; ip -n $NS link set lo up
if [ $SERVER = lwip ]; then
  LWIP=${LWIP_PEERS:-$PWD/../shared/peers/lwip}
  gcc -O2 -I/usr/include/lwip -o "$BUILD/lwip_server" "$LWIP/lwip_server.c" -llwip \
    || { echo "run.sh: cannot build $LWIP/lwip_server.c (apt-get install liblwip-dev; LWIP_PEERS=DIR names the harness)"; exit 1; }
  ip -n $NS tuntap add dev fplwip0 mode tun && ip -n $NS addr add 10.77.0.1/24 dev fplwip0 && ip -n $NS link set fplwip0 up
  ip netns exec $NS taskset -c 1 "$BUILD/lwip_server" -i fplwip0 -a 10.77.0.2 >/tmp/usertcp-fp-$$.log 2>&1 &
  PID=$!
  for _ in $(seq 1 50); do grep -q READY /tmp/usertcp-fp-$$.log && break; sleep 0.1; done
  grep -q READY /tmp/usertcp-fp-$$.log || { echo "lwip_server did not start: see /tmp/usertcp-fp-$$.log"; exit 1; }
else
  taskset -c 1 $CLI serve --netns $NS --services echo --log-level warning --ready-file "$READY" >/tmp/usertcp-fp-$$.log 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do [ -f "$READY" ] && break; sleep 0.1; done
  [ -f "$READY" ] || { echo "serve did not start: see /tmp/usertcp-fp-$$.log"; exit 1; }
fi
if [ $MODE = per-request ]; then
  ip netns exec $NS taskset -c 1 python3 tools/footprint/per_request.py $PID 10.77.0.2 7 $WARMUP ${COUNT:-30} $PAUSE
  exit
fi
WINDOWS=${COUNT:-3}
LOAD=$((WARMUP + WINDOWS * 2))
# One connection, one byte each way per request, for LOAD seconds at most (bounded: the loop checks the clock, and each
# connect, send and recv gives up after 5 s, so a serve that stops answering cannot hold the client, and this script, forever).
ip netns exec $NS taskset -c 1 python3 -c '
import socket, sys, time
end = time.monotonic() + float(sys.argv[1]); n = 0
try:
    s = socket.create_connection(("10.77.0.2", 7), timeout=5); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.monotonic() < end:
        s.send(b"x")
        if not s.recv(1): raise OSError("serve closed the connection")
        n += 1
except OSError as e:
    sys.exit(f"client: stopped after {n} requests: {e or type(e).__name__}")
print(f"client: {n / float(sys.argv[1]):.0f} requests/s")
' $LOAD &
CLIENT=$!
sleep $WARMUP
for _ in $(seq 1 $WINDOWS); do
  python3 tools/footprint/pages.py $PID 0.3
  python3 tools/footprint/pages.py $PID 0.05
done
wait $CLIENT; CLIENT=
sleep 3
echo "no load:"; python3 tools/footprint/pages.py $PID 1 --list | head -12
