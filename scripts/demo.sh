#!/usr/bin/env bash
# The demo (README, first line): builds usertcp, runs `usertcp doctor`, then shows the parser on live kernel
# traffic — inside a network namespace made for the demo and removed afterwards, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_commands ip:iproute2 ping:iputils-ping curl:curl timeout:coreutils

dotnet build src/UserTcp.Cli -c Release -nologo -clp:ErrorsOnly -v q >/dev/null
usertcp=$PWD/src/UserTcp.Cli/bin/Release/net10.0/usertcp

echo "== usertcp doctor"
"$usertcp" doctor

ns=usertcp-demo-$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
# Keep the capture to IPv4: a new interface otherwise sends IPv6 router solicitations.
ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'

echo
echo "== usertcp capture in namespace $ns: the kernel (10.77.0.1) pings and curls the UserTcp address (10.77.0.2)"
echo "   Nothing answers yet, so the kernel retransmits its SYN. Watch the gaps: Linux >= 6.5 retries a SYN"
echo "   at linear 1 s intervals first (net.ipv4.tcp_syn_linear_timeouts=4), then doubles."
ip netns exec "$ns" "$usertcp" capture --iface utcp0 --address 10.77.0.1/24 --count 5 --timeout 15 &
capture=$!
pids+=("$capture")
for _ in $(seq 50); do ip -n "$ns" link show utcp0 >/dev/null 2>&1 && break; sleep 0.1; done

ip netns exec "$ns" ping -c 2 -i 0.3 -W 1 10.77.0.2 >/dev/null 2>&1 || true
ip netns exec "$ns" curl --noproxy '*' --max-time 4 -s http://10.77.0.2/ >/dev/null 2>&1 &
pids+=("$!")
wait "$capture"
