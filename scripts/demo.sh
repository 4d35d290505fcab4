#!/usr/bin/env bash
# The demo (README, first line): builds usertcp, checks the machine (`usertcp doctor`), then runs `usertcp demo`:
# in a network namespace made for it and removed afterwards (also on failure or Ctrl-C), UserTcp serves on a TUN
# device and the kernel's own curl, nc and bash talk to it; both sides' TCP states are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_commands ip:iproute2 ss:iproute2 curl:curl timeout:coreutils ping:iputils-ping
ensure_netcat_openbsd

dotnet build src/UserTcp.Cli -c Release -nologo -clp:ErrorsOnly -v q >/dev/null
usertcp=$PWD/src/UserTcp.Cli/bin/Release/net10.0/usertcp

echo "== usertcp doctor"
"$usertcp" doctor
echo
echo "== usertcp demo $*"
exec "$usertcp" demo "$@"
