"""Authenticated reads under wrk: what a patient session costs per request, before and after
sliding sessions stopped writing on every read, against /healthz and bare PyMongo, one run.

    python bench/authenticated_reads.py

- `GET /healthz` on the same app process: the framework ceiling
- `GET /api/v1/patients` with a pool of 200 real sessions (wrk Lua script), twice:
  renewal at most every 5 minutes (today) and on every request (`session_renew_minutes = 0`,
  the old find-and-update per read)
- bare PyMongo doing the same two finds (session by token hash, the account's patients)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from bench.common import app_processes, private_database, time_ops  # noqa: E402
from bench.wrk_runner import WrkResult, run_wrk  # noqa: E402

SESSIONS, SECONDS, CONNECTIONS = 200, 5, 32


async def make_sessions(uri: str, count: int) -> list[tuple[str, str]]:
    """Accounts and sessions written as IdentityService writes them; (token, account id)."""
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["palm"]
    now = datetime.now(UTC)
    pool = []
    for _ in range(count):
        account = await db.accounts.insert_one({"phone_bidx": secrets.token_hex(32), "phone": None,
                                                "openids": [], "patient_count": 0, "created_at": now})
        token = secrets.token_urlsafe(32)
        await db.sessions.insert_one({"token_hash": hashlib.sha256(token.encode()).hexdigest(),
                                      "kind": "patient", "subject_id": str(account.inserted_id),
                                      "created_at": now, "last_seen_at": now,
                                      "expires_at": now + timedelta(days=30), "ip": ""})
        pool.append((token, str(account.inserted_id)))
    await client.close()
    return pool


async def bare_same_commands(uri: str, pool: list[tuple[str, str]]):
    """The two finds an authenticated GET /api/v1/patients needs, straight from PyMongo."""
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["palm"]
    hashed = [(hashlib.sha256(t.encode()).hexdigest(), ObjectId(a)) for t, a in pool]

    async def op(i: int):
        token_hash, account = hashed[i % len(hashed)]
        await db.sessions.find_one({"token_hash": token_hash, "kind": "patient",
                                    "expires_at": {"$gt": datetime.now(UTC)}})
        await db.patients.find({"account_id": account, "deleted": False}).to_list()

    stats = await time_ops("bare PyMongo (same 2 finds)", op, 10**9, CONNECTIONS, max_seconds=SECONDS)
    await client.close()
    return stats


def bench_line(result: WrkResult, ceiling: WrkResult, bare_rps: float) -> str:
    """The machine-readable line `python -m bench` gathers into its table."""
    return "BENCH " + json.dumps({
        "scenario": "authenticated_reads", "name": result.name, "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 2), "p99_ms": round(result.p99_ms, 2), "errors": result.bad,
        "x_healthz": round(result.ratio_to(ceiling), 4),
        "x_bare_pymongo": round(result.rps / bare_rps, 4) if bare_rps else 0})


def line(result: WrkResult, ceiling: WrkResult, bare_rps: float) -> str:
    return (f"  {result.name:<44} {result.rps:>8.1f}/s  p50 {result.p50_ms:>7.2f}ms  "
            f"p99 {result.p99_ms:>7.2f}ms  bad {result.bad:<4} ×healthz {result.ratio_to(ceiling):.3f}"
            f"  ×bare {result.rps / bare_rps if bare_rps else 0:.3f}")


def main() -> None:
    with private_database() as database:
        pool = asyncio.run(make_sessions(database.uri, SESSIONS))
        tokens = Path(tempfile.mkdtemp(prefix="palm-bench-")) / "tokens.txt"
        tokens.write_text("\n".join(t for t, _ in pool) + "\n")
        results = []
        for label, minutes in (("renew ≤ every 5 min", "5"), ("renew on every read (old)", "0")):
            with app_processes(database.uri,
                               extra_env={"PALM_IDENTITY_SESSION_RENEW_MINUTES": minutes}) as url:
                if not results:
                    results.append(run_wrk("GET /healthz (same app)", url + "/healthz",
                                           seconds=SECONDS, connections=CONNECTIONS))
                results.append(run_wrk(f"GET /api/v1/patients, {label}", url, script="session_pool.lua",
                                       script_args=[str(tokens), "/api/v1/patients"],
                                       seconds=SECONDS, connections=CONNECTIONS))
        bare = asyncio.run(bare_same_commands(database.uri, pool))
    ceiling = results[0]
    print(f"authenticated reads — wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, one app process, one run")
    for result in results:
        print(line(result, ceiling, bare.rps))
    for result in results:
        print(bench_line(result, ceiling, bare.rps))
    print(f"  {bare.name:<44} {bare.rps:>8.1f}/s  p50 {bare.pct(50):>7.2f}ms  p99 {bare.pct(99):>7.2f}ms"
          f"  (concurrency {CONNECTIONS})")


if __name__ == "__main__":
    main()
