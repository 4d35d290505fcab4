#!/usr/bin/env bash
# Runs our packetdrill scripts against the Linux kernel, each in a scratch network namespace (README.md).
# Usage: tools/linux-check/run.sh --packetdrill PATH [--cc cubic] [--timeout S] [--jobs 1|2] [SCRIPT.pkt ...]
set -euo pipefail
exec python3 "$(dirname "$0")/linux_check.py" "$@"
