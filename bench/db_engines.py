"""Which embedded database: the app's own command shapes on each engine, 1k → 100k documents.

    .venv/bin/python -m bench.db_engines                 # both engines, 1k / 16k / 100k
    .venv/bin/python -m bench.db_engines --sizes 1000,16000 --engines secantus

For each engine, a fresh server process (`server.embedded_db.EmbeddedDatabase`, exactly as
`make run` and the tests start it) is filled with schedule documents shaped like the app's
(eight embedded slots, a `holds` array, the registration indexes), then each hot-path shape
is sent, one at a time, on random documents:

- the booking's capacity write, built with the app's own pipeline builders
  (`services.registration.base`), as `find_one_and_update` returning BEFORE (what
  `take_place` sends today), returning AFTER, and as `update_one` — plus the same
  condition written as a filter (`remaining > 0` in the query), the shape that scans;
- dropping the hold, an appointment insert, the outbox lease (`services.jobs.claim_one`),
  a read by `_id` and the schedule list's indexed find of 20.

It prints p50 / p99 per shape and size, and the growth from the smallest to the largest
size: a shape whose cost grows with the collection is a scan, whatever its p50 at 1k.
Then `wrk` drives the app's hot reads on each engine beside `/healthz` in the same run.
Finally a concurrency check: 40 `find_one_and_update` at once on one document must return
40 distinct before-images (an engine that returns stale ones hands out duplicate tickets).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument

from bench.common import app_processes
from server.embedded_db import ENGINES, EmbeddedDatabase, free_port
from services.registration.base import add_hold_stage, drop_hold_stage, slot_pipeline

SLOTS = 8
WHEN = {"$and": [{"$gt": ["$$s.remaining", 0]}, {"$eq": ["$status", "open"]}]}


def schedule_doc(i: int, now: datetime) -> dict[str, Any]:
    day = (now + timedelta(days=i % 30)).date().isoformat()
    return {"_id": ObjectId(), "his_id": f"B-{i}", "doctor_id": ObjectId(),
            "department_id": f"dept-{i % 40}", "date": day, "period": "morning",
            "status": "open", "holds": [], "fee_fen": 1200,
            "slots": [{"seq": s + 1, "key": f"{8 + s // 2:02d}:{30 * (s % 2):02d}",
                       "capacity": 10 ** 6, "remaining": 10 ** 6, "issued": 0}
                      for s in range(SLOTS)]}


async def fill(db, size: int) -> list[ObjectId]:
    now = datetime.now(UTC)
    schedules, appointments, outbox = db["schedules"], db["appointments"], db["notify_messages"]
    await schedules.create_index("his_id", unique=True)
    await schedules.create_index([("department_id", ASCENDING), ("date", ASCENDING)])
    await appointments.create_index([("patient_id", ASCENDING), ("slot_id", ASCENDING)])
    await appointments.create_index("ticket_key", unique=True)
    await outbox.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    ids: list[ObjectId] = []
    for start in range(0, size, 1000):
        docs = [schedule_doc(i, now) for i in range(start, min(size, start + 1000))]
        await schedules.insert_many(docs, ordered=False)
        ids += [d["_id"] for d in docs]
        await appointments.insert_many(
            [{"patient_id": f"p{i}", "slot_id": f"s{i}", "ticket_key": f"t{i}", "status": "booked"}
             for i in range(start, start + len(docs))], ordered=False)
        await outbox.insert_many(
            [{"status": "sent", "next_attempt_at": now - timedelta(days=1), "lease_until": None}
             for _ in docs], ordered=False)
    return ids


def shapes(db, ids: list[ObjectId]) -> dict[str, Callable[[], Awaitable[Any]]]:
    schedules, appointments, outbox = db["schedules"], db["appointments"], db["notify_messages"]
    counter = iter(range(10 ** 9))

    def take(seq: int, hold: ObjectId) -> list[dict[str, Any]]:
        return [add_hold_stage(seq, WHEN, {"id": hold, "seq": seq, "at": datetime.now(UTC)}),
                *slot_pipeline(seq, WHEN, {"remaining": -1, "issued": 1})]

    async def fam_before():
        await schedules.find_one_and_update({"_id": random.choice(ids)}, take(1, ObjectId()),
                                            projection={"slots": 1, "status": 1},
                                            return_document=ReturnDocument.BEFORE)

    async def fam_after():
        await schedules.find_one_and_update({"_id": random.choice(ids)}, take(1, ObjectId()),
                                            projection={"slots": 1, "holds": 1},
                                            return_document=ReturnDocument.AFTER)

    async def update_pipeline():
        await schedules.update_one({"_id": random.choice(ids)}, take(1, ObjectId()))

    async def update_filtered():   # the condition in the filter: the shape that scans
        await schedules.update_one(
            {"_id": random.choice(ids), "status": "open",
             "slots": {"$elemMatch": {"seq": 2, "remaining": {"$gt": 0}}}},
            {"$inc": {"slots.$.remaining": -1, "slots.$.issued": 1}})

    async def fam_filtered():   # arrayFilters: SecantusDB refuses `slots.$` in findAndModify
        await schedules.find_one_and_update(
            {"_id": random.choice(ids), "status": "open",
             "slots": {"$elemMatch": {"seq": 2, "remaining": {"$gt": 0}}}},
            {"$inc": {"slots.$[s].remaining": -1, "slots.$[s].issued": 1}},
            array_filters=[{"s.seq": 2}], return_document=ReturnDocument.AFTER)

    async def drop_hold():
        await schedules.update_one({"_id": random.choice(ids)}, [drop_hold_stage(ObjectId())])

    async def insert_appointment():
        n = next(counter)
        await appointments.insert_one({"patient_id": f"new{n}", "slot_id": f"x{n}",
                                       "ticket_key": f"new-{n}-{random.random()}", "status": "booked"})

    async def outbox_lease():
        now = datetime.now(UTC)
        free = {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}
        await outbox.find_one_and_update(
            {"$and": [{"status": "queued", "next_attempt_at": {"$lte": now}}, free]},
            {"$set": {"lease_owner": "bench", "lease_until": now + timedelta(seconds=30)}},
            sort=[("next_attempt_at", ASCENDING)], return_document=ReturnDocument.AFTER)

    async def find_by_id():
        await schedules.find_one({"_id": random.choice(ids)})

    async def indexed_find_20():
        await schedules.find({"department_id": f"dept-{random.randrange(40)}",
                              "date": {"$gte": "2000-01-01"}}).limit(20).to_list(None)

    return {"take place: find_one_and_update BEFORE (today)": fam_before,
            "take place: find_one_and_update AFTER": fam_after,
            "take place: update_one pipeline": update_pipeline,
            "take place: update_one, condition in filter": update_filtered,
            "take place: find_one_and_update, condition in filter": fam_filtered,
            "drop hold: update_one pipeline": drop_hold,
            "insert appointment": insert_appointment,
            "outbox lease (claim_one)": outbox_lease,
            "read schedule by _id": find_by_id,
            "schedule list: indexed find of 20": indexed_find_20}


async def time_shape(fn: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, float]:
    for _ in range(5):
        await fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


async def stale_before_images(uri: str, n: int = 40) -> int:
    """Distinct before-images returned by n concurrent increments of one document (want n)."""
    client = AsyncMongoClient(uri)
    try:
        coll = client["bench_race"]["counter"]
        await coll.drop()
        await coll.insert_one({"_id": 1, "n": 0})
        docs = await asyncio.gather(*(coll.find_one_and_update(
            {"_id": 1}, {"$inc": {"n": 1}}, return_document=ReturnDocument.BEFORE) for _ in range(n)))
        return len({d["n"] for d in docs})
    finally:
        await client.close()


async def measure_engine(uri: str, sizes: list[int], repeats: int) -> dict[str, dict[int, tuple]]:
    client = AsyncMongoClient(uri)
    results: dict[str, dict[int, tuple]] = {}
    try:
        for size in sizes:
            db = client[f"bench_{size}"]
            started = time.perf_counter()
            ids = await fill(db, size)
            print(f"    filled {size:,} schedules (+ as many appointments and outbox rows) "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
            for name, fn in shapes(db, ids).items():
                results.setdefault(name, {})[size] = await time_shape(fn, repeats)
            await client.drop_database(f"bench_{size}")
    finally:
        await client.close()
    return results


def wrk(url: str, seconds: int = 5) -> tuple[float, str, str]:
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec"))
    pct = {line.split()[0]: line.split()[1] for line in out.splitlines()
           if line.strip().startswith(("50%", "99%"))}
    return rps, pct.get("50%", "?"), pct.get("99%", "?")


def hot_reads(uri: str) -> dict[str, tuple[float, str, str]]:
    with tempfile.TemporaryDirectory(prefix="palm-bench-app-") as var:
        with app_processes(uri, processes=1, var_dir=var) as base:   # seeds the demo group
            return {path: wrk(base + path) for path in
                    ("/healthz", "/api/v1/departments", "/api/v1/campuses")}


def print_shapes(engine: str, results: dict[str, dict[int, tuple]], sizes: list[int]) -> None:
    first, last = sizes[0], sizes[-1]
    print(f"\n{engine}: p50 / p99 ms per shape, one request at a time")
    print("| shape | " + " | ".join(f"{s:,} docs" for s in sizes)
          + f" | growth {first:,} → {last:,} (p50) |")
    print("|---" * (len(sizes) + 2) + "|")
    for name, by_size in results.items():
        cells = [f"{by_size[s][0]:.2f} / {by_size[s][1]:.2f}" for s in sizes]
        print(f"| {name} | " + " | ".join(cells) + f" | {by_size[last][0] / by_size[first][0]:.1f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--sizes", default="1000,16000,100000")
    parser.add_argument("--mongoeco-sizes", default="1000,4000",
                        help="mongoeco fills slowly (16k schedules took 527 s): its own sizes")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--no-http", action="store_true", help="skip the wrk part")
    args = parser.parse_args()
    http: dict[str, dict[str, tuple]] = {}
    races: dict[str, int] = {}
    for engine in args.engines.split(","):
        sizes = [int(s) for s in (args.mongoeco_sizes if engine == "mongoeco" else args.sizes).split(",")]
        print(f"== {engine}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"palm-bench-{engine}-") as folder:
            with EmbeddedDatabase(Path(folder), port=free_port(), engine=engine,
                                  log_file=Path(folder) / "db.log") as database:
                print_shapes(engine, asyncio.run(measure_engine(database.uri, sizes, args.repeats)),
                             sizes)
                races[engine] = asyncio.run(stale_before_images(database.uri))
                print(f"{engine}: 40 concurrent find_one_and_update returned {races[engine]} distinct "
                      f"before-images ({'ok' if races[engine] == 40 else 'STALE: duplicate tickets'})",
                      flush=True)
                if not args.no_http:
                    http[engine] = hot_reads(database.uri)
    if http:
        print()
        print("| request (wrk -t2 -c32 -d5s, one app process, same run) | " +
              " | ".join(f"{e} req/s (p50, p99) × /healthz" for e in http) + " |")
        print("|---" * (len(http) + 1) + "|")
        for path in next(iter(http.values())):
            cells = []
            for rows in http.values():
                rps, p50, p99 = rows[path]
                cells.append(f"{rps:,.0f} ({p50}, {p99}) {rps / rows['/healthz'][0]:.2f}×")
            print(f"| GET {path} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
