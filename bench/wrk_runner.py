"""Run `wrk` and read its report: requests/s, p50, p99 and non-2xx counts.

Python only orchestrates: the load comes from wrk (C, its own threads), so the server, not
the generator, is what tops out. Runs are short (`-d5s` by default) on the shared machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int          # non-2xx/3xx responses plus socket errors

    def ratio_to(self, other: "WrkResult") -> float:
        return self.rps / other.rps if other.rps else 0.0


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse_wrk(name: str, output: str) -> WrkResult:
    """The figures of one `wrk --latency` report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = sum(int(m) for m in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors:
        bad += sum(int(g) for g in errors.groups())
    return WrkResult(name, rps, p50, p99, requests, bad)


def run_wrk(name: str, url: str, *, script: str | None = None, script_args: list[str] = (),
            seconds: int = 5, connections: int = 32, threads: int = 2) -> WrkResult:
    """One bounded wrk run against a loopback URL."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (scripts/system-deps.sh installs it)")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        command += ["-s", str(WRK_SCRIPTS / script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(name, done.stdout)
