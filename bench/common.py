"""Shared benchmark machinery: a private database, app processes, a load generator,
Tornado's own ceiling, and one result format.

Every figure a scenario reports is measured in the same run as its baselines, and the
headline numbers are RATIOS (endpoint throughput / bare database operation throughput,
endpoint throughput / trivial Tornado handler throughput), because absolute times on a
shared 2-core machine are noise. Everything talks to loopback only and is bounded in time.

A scenario prints human-readable lines and, for `python -m bench`, one machine-readable
line per result: `BENCH {"scenario": ..., "name": ..., "rps": ..., "p50_ms": ..., ...}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.embedded_db import DEFAULT_ENGINE, EmbeddedDatabase, free_port  # noqa: E402


@dataclass
class Stats:
    name: str
    count: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "errors": self.errors,
                "rps": round(self.rps, 1), "p50_ms": round(self.pct(50), 2),
                "p95_ms": round(self.pct(95), 2), "p99_ms": round(self.pct(99), 2)}


async def hammer(name: str, request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
                 total: int, concurrency: int, base_url: str = "",
                 ok: Callable[[httpx.Response], bool] = lambda r: r.status_code < 400,
                 max_seconds: float = 30.0) -> Stats:
    """Send `total` requests with `concurrency` in flight; stop early after `max_seconds`."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await request(client, i)
                    good = ok(response)
                except httpx.HTTPError:
                    good = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += 0 if good else 1

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return Stats(name, len(latencies), errors, elapsed, latencies)


async def time_ops(name: str, op: Callable[[int], Awaitable[Any]], total: int, concurrency: int,
                   max_seconds: float = 30.0) -> Stats:
    """The same accounting for bare operations (e.g. a pymongo update) without HTTP."""
    latencies: list[float] = []
    counter = iter(range(total))
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            await op(i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return Stats(name, len(latencies), 0, time.perf_counter() - started, latencies)


@contextmanager
def private_database() -> Iterator[EmbeddedDatabase]:
    """A fresh embedded database process in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="palm-bench-") as folder:
        database = EmbeddedDatabase(Path(folder), port=free_port(), log_file=Path(folder) / "db.log",
                                    engine=os.environ.get("PALM_DB_ENGINE", DEFAULT_ENGINE))
        with database:
            yield database


@contextmanager
def app_processes(mongodb_uri: str, processes: int = 1, extra_env: dict[str, str] | None = None,
                  var_dir: str | None = None) -> Iterator[str]:
    """`run.py serve --processes N` against `mongodb_uri`; yields its base URL."""
    port = free_port()
    folder = var_dir or tempfile.mkdtemp(prefix="palm-bench-var-")
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "PALM_HTTP_PORT": str(port),
           "PALM_VAR_DIR": folder, "PALM_LOG_LEVEL": "WARNING", **(extra_env or {})}
    # the app's log goes to a file: a pipe nobody reads would block a chatty server mid-run
    log_path = Path(folder) / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--processes",
                                    str(processes), "--no-worker"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=log,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log_path=log_path)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0,
                  log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = log_path.read_bytes()[-2000:].decode(errors="replace") if log_path else ""
            raise RuntimeError(f"server exited: {output}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


@contextmanager
def tornado_ceiling(processes: int = 1) -> Iterator[str]:
    """A trivial Tornado JSON handler in its own process(es): the framework's own ceiling."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "ceiling_app.py"), str(port),
                                str(processes)], cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


async def measure_ceiling(url: str, total: int = 3000, concurrency: int = 32) -> Stats:
    """/healthz driven by this Python client: the CLIENT's ceiling (a few hundred req/s), not
    Tornado's; wrk (bench/wrk_runner.py) measures the server's. Kept until every scenario
    has moved to wrk; do not read its ratios as the framework's."""
    return await hammer("tornado_ceiling", lambda c, i: c.get(url + "/healthz"), total, concurrency)


def report(scenario: str, stats: Stats, **ratios: float) -> None:
    """Print a readable line and the machine-readable BENCH line."""
    summary = stats.summary()
    extra = "  ".join(f"{k}={v:.3f}" for k, v in ratios.items())
    print(f"  {scenario:<18} {stats.name:<32} {summary['rps']:>9.1f}/s  p50 {summary['p50_ms']:>7.2f}ms"
          f"  p95 {summary['p95_ms']:>7.2f}ms  p99 {summary['p99_ms']:>7.2f}ms"
          f"  errors {stats.errors}  {extra}",
          flush=True)
    print("BENCH " + json.dumps({"scenario": scenario, **summary,
                                 **{k: round(v, 4) for k, v in ratios.items()}}), flush=True)


def ratio(a: Stats, b: Stats) -> float:
    return a.rps / b.rps if b.rps else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


__all__ = ["Stats", "app_processes", "asdict", "hammer", "measure_ceiling", "private_database",
           "ratio", "report", "time_ops", "tornado_ceiling", "wait_until_up"]
