#!/usr/bin/env bash
# Runs the upstream packetdrill TCP corpus and gVisor's packetdrill scripts through `usertcp script --relaxed` and
# writes docs/conformance.md. Needs checkouts of google/packetdrill and google/gvisor (only read); builds the CLI.
#
#   tools/conformance/run.sh --packetdrill ~/src/packetdrill --gvisor ~/src/gvisor [--out docs/conformance.md] [--record]
#
# --record also writes tools/conformance/baseline.tsv, the results CI's check (check.sh) guards.
# No root and no network: every script runs in process, on a manual clock.
set -euo pipefail
cd "$(dirname "$0")/../.."

packetdrill="" gvisor="" out="docs/conformance.md" record=""
while [ $# -gt 0 ]; do
  case "$1" in
    --packetdrill) packetdrill="${2:?--packetdrill needs a directory}"; shift 2 ;;
    --gvisor) gvisor="${2:?--gvisor needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --record) record="--record"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'; usage: run.sh --packetdrill DIR --gvisor DIR [--out FILE] [--record]" >&2; exit 2 ;;
  esac
done
if [ -z "$packetdrill" ] || [ -z "$gvisor" ]; then
  echo "run.sh: say where the checkouts are: run.sh --packetdrill DIR --gvisor DIR (git clone https://github.com/google/packetdrill, https://github.com/google/gvisor)" >&2
  exit 2
fi
for dir in "$packetdrill/gtests/net/tcp" "$gvisor/test/packetdrill"; do
  if [ ! -d "$dir" ]; then echo "run.sh: no scripts at $dir: is that the right checkout?" >&2; exit 2; fi
done

dotnet build src/UserTcp.Cli/UserTcp.Cli.csproj -c Release -nologo -clp:ErrorsOnly >&2
cli="src/UserTcp.Cli/bin/Release/net10.0/usertcp.dll"
python3 tools/conformance/report.py --packetdrill "$packetdrill" --gvisor "$gvisor" --usertcp "dotnet $cli" --out "$out" $record
