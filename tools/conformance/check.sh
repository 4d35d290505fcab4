#!/usr/bin/env bash
# CI's conformance guard: every upstream or gVisor script that tools/conformance/baseline.tsv records as passing must
# still pass through `usertcp script --relaxed`. Needs the CLI built (scripts/test.sh builds it) and the two checkouts:
#
#   tools/conformance/check.sh --packetdrill DIR --gvisor DIR
#
# Exit 0: no regression; 1: a script regressed (each is named); 2: a usage mistake.
set -euo pipefail
cd "$(dirname "$0")/../.."

packetdrill="" gvisor=""
while [ $# -gt 0 ]; do
  case "$1" in
    --packetdrill) packetdrill="${2:?--packetdrill needs a directory}"; shift 2 ;;
    --gvisor) gvisor="${2:?--gvisor needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: unknown argument '$1'; usage: check.sh --packetdrill DIR --gvisor DIR" >&2; exit 2 ;;
  esac
done
if [ -z "$packetdrill" ] || [ -z "$gvisor" ]; then
  echo "check.sh: say where the checkouts are: check.sh --packetdrill DIR --gvisor DIR" >&2
  exit 2
fi
cli="src/UserTcp.Cli/bin/Release/net10.0/usertcp.dll"
if [ ! -f "$cli" ]; then echo "check.sh: build the CLI first (dotnet build src/UserTcp.Cli -c Release)" >&2; exit 2; fi
exec python3 tools/conformance/check.py --packetdrill "$packetdrill" --gvisor "$gvisor" --usertcp "dotnet $cli"
