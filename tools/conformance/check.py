#!/usr/bin/env python3
"""CI's conformance guard: runs every upstream and gVisor script that baseline.tsv records as passing, and fails
when one no longer passes. Newly passing scripts are listed (record them with run.sh --record). Called by check.sh."""

import argparse
import sys

import report


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packetdrill", required=True)
    parser.add_argument("--gvisor", required=True)
    parser.add_argument("--usertcp", required=True)
    parser.add_argument("--timeout", type=int, default=120)
    args = parser.parse_args()

    baseline = report.load_results("baseline.tsv")
    if not baseline:
        sys.exit("check.py: tools/conformance/baseline.tsv is missing: record it with run.sh --record")
    scripts = [(k, p) for k, p in report.find_scripts(args.packetdrill, args.gvisor) if baseline.get(k) == "pass"]
    missing = sorted(k for k, status in baseline.items() if status == "pass" and k not in dict(scripts))
    results = report.run_all(args.usertcp.split(), scripts, args.timeout)
    regressed = [k for k, _ in scripts if results[k]["status"] != "pass"]
    for k in regressed:
        r = results[k]
        print(f"conformance: REGRESSION {k}: line {r['line']}: {r['message']}", file=sys.stderr)
    for k in missing:
        print(f"conformance: {k} passes in baseline.tsv but is not in the checkout", file=sys.stderr)
    passed = len(scripts) - len(regressed)
    print(f"conformance: {passed} of {len(scripts)} baseline passes still pass"
          + ("" if not regressed and not missing else f"; {len(regressed)} regressed, {len(missing)} missing"))
    sys.exit(1 if regressed or missing else 0)


if __name__ == "__main__":
    main()
