#!/bin/bash
# usage: tools/queues/run.sh [SECONDS] [REPS]
# As root, from the repository root, after `dotnet build src/UserTcp.Cli -c Release`. Many flows at once against one
# queue and against two: wrk (HTTP keep-alive, 2 and 64 connections) against usertcp serve --queues 1 and --queues 2 in
# a throwaway namespace (removed on exit, also on failure), alternating, REPS times each (README "Performance", several cores).
set -u
SECS=${1:-5}; REPS=${2:-3}
CLI="dotnet $PWD/src/UserTcp.Cli/bin/Release/net10.0/usertcp.dll"
NS=usertcp-mq-$$
# serve is killed only while it still runs as our job: once it has ended and been reaped, its pid may name another process.
cleanup() { [ -n "${PID:-}" ] && jobs -rp | grep -qx "$PID" && kill $PID; wait 2>/dev/null; ip netns del $NS 2>/dev/null; }
trap cleanup EXIT
ip netns add $NS && ip -n $NS link set lo up || { echo "run.sh: cannot make namespace $NS (run as root)" >&2; exit 1; }
for rep in $(seq 1 $REPS); do
  for q in 1 2; do
    for conns in 2 64; do
      rm -f /tmp/mq-ready-$$
      $CLI serve --netns $NS --queues $q --services http --log-level warning --ready-file /tmp/mq-ready-$$ >/tmp/mq-serve-$$.log 2>&1 &
      PID=$!
      for i in $(seq 1 100); do [ -f /tmp/mq-ready-$$ ] && break; sleep 0.1; done
      # A serve that did not come up has ended (or hangs): measuring nothing, and killing its pid later, would be wrong.
      [ -f /tmp/mq-ready-$$ ] || { echo "run.sh: serve --queues $q did not start: $(tail -n 1 /tmp/mq-serve-$$.log)" >&2; exit 1; }
      out=$(ip netns exec $NS wrk -t2 -c$conns -d${SECS}s http://10.77.0.2/bytes/64 2>&1)
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      errs=$(echo "$out" | grep -E "Socket errors|Non-2xx" | tr '\n' ' ')
      echo "rep $rep queues $q connections $conns requests/s $rps $errs"
      kill -TERM $PID; wait $PID 2>/dev/null; PID=
    done
  done
done
