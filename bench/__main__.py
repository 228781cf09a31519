"""`make bench`: run every scenario in bench/ and print one table of their BENCH lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"__init__", "__main__", "common", "ceiling_app", "wrk_runner"}
# Scenarios that need arguments get them here.
ARGS = {"triage_eval": ["bench/data/triage_cases.jsonl"]}


def main() -> int:
    scenarios = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem not in SKIP)
    rows, failed = [], []
    for name in scenarios:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        process = subprocess.run([sys.executable, f"bench/{name}.py", *ARGS.get(name, [])], cwd=ROOT,
                                 check=False, capture_output=True, text=True, timeout=600)
        for line in process.stdout.splitlines():
            if line.startswith("BENCH "):
                rows.append(json.loads(line[6:]))
            else:
                print("   " + line)
        if process.returncode != 0:
            failed.append(name)
            print(process.stderr[-3000:])
        print(f"   ({time.monotonic() - started:.0f}s)", flush=True)
    keys = ["scenario", "name", "rps", "p50_ms", "p95_ms", "p99_ms", "errors"]
    extra = sorted({k for r in rows for k in r} - set(keys) - {"count"})
    header = keys + extra
    print("\n" + " | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in rows:
        print(" | ".join(str(row.get(k, "")) for k in header))
    if failed:
        print(f"\nfailed scenarios: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
