#!/usr/bin/env bash
# Capture golden TCP/IPv4 packets from the real Linux kernel TCP stack.
# Creates a private network namespace, runs capture.py inside it (TUN utcpg0,
# kernel 10.77.0.1/24, hand-crafted peer 10.77.0.2), deletes the namespace on
# exit (also on failure / Ctrl-C). Never touches host interfaces or routes.
# Needs root. Usage: sudo tools/golden/capture.sh [capture.py args...]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
NS="utcp-golden-$$"
CHILD=""

if [[ $(id -u) -ne 0 ]]; then
  echo "capture.sh: needs root (netns + /dev/net/tun)" >&2
  exit 2
fi

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  if ip netns list 2>/dev/null | grep -qw "^$NS"; then
    # Kill (by pid) whatever we started that is still inside our namespace.
    local pids
    pids="$(ip netns pids "$NS" 2>/dev/null || true)"
    if [[ -n "$pids" ]]; then
      echo "capture.sh: killing leftover pids in $NS: $pids" >&2
      for p in $pids; do kill "$p" 2>/dev/null || true; done
      sleep 0.5
      for p in $(ip netns pids "$NS" 2>/dev/null || true); do kill -9 "$p" 2>/dev/null || true; done
    fi
    ip netns del "$NS" || echo "capture.sh: WARNING: could not delete netns $NS" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
echo "capture.sh: created netns $NS" >&2
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
# Namespace-local sysctls only (net.* are per-netns): no IPv6 noise on the TUN,
# and tcp_rmem pinned to the upstream kernel default so the SYN's window-scale
# does not depend on the host's tuning (new namespaces copy init_net's value).
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
if [[ "${UTCP_GOLDEN_KEEP_RMEM:-0}" != 1 ]]; then
  nsx sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
fi

# Run in the background and `wait`, so that INT/TERM reach our trap at once.
nsx env -u http_proxy -u https_proxy -u all_proxy \
  -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY \
  UTCP_GOLDEN_NETNS="$NS" \
  timeout --kill-after=5 120 "$PYTHON" "$HERE/capture.py" --i-am-in-a-netns "$@" &
CHILD=$!
wait "$CHILD"
