"""Report lookups at the morning peak: patients opening their report list and a report's
detail, against the bare database reads those endpoints are built on, in the same run.

    python bench/report_lookup.py

Seeds (through the real services) PATIENTS accounts with one family member each and
REPORTS lab reports per member (bulk import, as at go-live), then runs the app in its own process and sends
authenticated requests with CONCURRENCY in flight. Headline figures are ratios:
endpoint requests/s ÷ bare database reads/s (the report query alone, without session
check, ownership check, decryption and JSON), measured in interleaved rounds (median).
The bare session renewal is shown too: every authenticated request pays it first.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId
from pymongo import AsyncMongoClient

from bench.common import (
    Stats,
    app_processes,
    hammer,
    median,
    private_database,
    ratio,
    report,
    time_ops,
)

PATIENTS, REPORTS = 16, 6
TOTAL, CONCURRENCY = 1500, 32       # 32 phones in flight: the 8 o'clock rush after blood draws
WINDOW, ROUNDS = 2.0, 3              # seconds per measurement; the ratio is the median of the rounds
ITEMS = [("WBC", "白细胞计数", "3.5-9.5", "10^9/L"), ("RBC", "红细胞计数", "4.3-5.8", "10^12/L"),
         ("HGB", "血红蛋白", "130-175", "g/L"), ("PLT", "血小板计数", "125-350", "10^9/L"),
         ("GLU", "葡萄糖", "3.9-6.1", "mmol/L"), ("K", "钾", "3.5-5.3", "mmol/L"),
         ("NA", "钠", "137-147", "mmol/L"), ("ALT", "丙氨酸氨基转移酶", "9-50", "U/L"),
         ("AST", "天门冬氨酸氨基转移酶", "15-40", "U/L"), ("CREA", "肌酐", "57-111", "umol/L"),
         ("UA", "尿酸", "208-428", "umol/L"), ("TG", "甘油三酯", "0.45-1.7", "mmol/L")]


def _settings(uri: str, var_dir: str):
    from server.settings import load_settings
    return load_settings(environ={"PALM_ENV": "development", "MONGODB_URI": uri,
                                  "PALM_VAR_DIR": var_dir, "PALM_LOG_LEVEL": "WARNING"})


async def seed(uri: str, var_dir: str) -> list[tuple[str, str, list[str]]]:
    """(session token, patient id, report ids) per account, made through the services."""
    from server.startup import running
    from services.identity.idcard import make_id_card
    from services.identity.patients import PatientIn
    from services.reports import HisReportIn

    rng = random.Random(7)
    people = []
    async with running(_settings(uri, var_dir)) as services:
        # one campus, so `serve` does not spend its start-up seeding the demo hospital
        await services.catalogue.upsert_campus("main", name="总院", is_main=True, order=0)
        for n in range(PATIENTS):
            phone = f"139{n:08d}"
            account = await services.identity.account_for_phone(phone)
            account_id = str(account["_id"])
            birth = datetime(1950 + n % 50, 1 + n % 12, 1 + n % 28).date()
            patient = await services.identity.add_patient(account_id, PatientIn(
                name="王" + "建国秀英丽华强明"[n % 8] + "测", document_number=make_id_card(
                    "330106", birth, 100 + n, "male" if n % 2 else "female"), phone=phone))
            token = await services.identity.create_session("patient", account_id)
            bodies = []
            for r in range(REPORTS):
                when = datetime(2026, 12, 1, 1, tzinfo=UTC) - timedelta(days=r * 3)
                items = [{"code": code, "name": name, "reference_range": ref, "unit": unit,
                          "value": f"{rng.uniform(0.6, 1.3) * float(ref.split('-')[1]):.1f}"}
                         for code, name, ref, unit in ITEMS]
                bodies.append(HisReportIn.model_validate({
                    "source": "LIS", "report_id": f"B{n:04d}-{r}", "kind": "lab", "status": "final",
                    "patient_id": patient.id, "title": "生化全项", "department": "检验科",
                    "collected_at": when, "reported_at": when + timedelta(hours=1), "items": items}))
            await services.reports.import_history(bodies)
            found = services.db.reports.find({"patient_id": patient.id}, {"_id": 1})
            ids = [str(d["_id"]) async for d in found]
            people.append((token, patient.id, ids))
    return people


async def measure(uri: str, url: str, people) -> dict[str, list]:
    """ROUNDS of (endpoint, bare read) pairs back to back, so both see the same machine load."""
    client = AsyncMongoClient(uri, tz_aware=True)
    reports = client["palm"]["reports"]
    sessions = client["palm"]["sessions"]
    hashes = [hashlib.sha256(token.encode()).hexdigest() for token, _, _ in people]

    def headers(i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {people[i % len(people)][0]}"}

    async def list_op(i: int):
        _, patient_id, _ = people[i % len(people)]
        await reports.find({"patient_id": {"$in": [patient_id]}}, {"history": 0, "prints": 0, "exam": 0}
                           ).sort([("sort_at", -1)]).limit(200).to_list()

    async def detail_op(i: int):
        _, _, ids = people[i % len(people)]
        await reports.find_one({"_id": ObjectId(ids[i % len(ids)])}, {"prints": 0})

    async def session_op(i: int):
        # what every authenticated request does first: find and renew the session (a write)
        await sessions.find_one_and_update({"token_hash": hashes[i % len(hashes)]},
                                           {"$set": {"last_seen_at": datetime.now(UTC)}})

    results: dict[str, list] = {k: [] for k in ("list", "bare_list", "detail", "bare_detail", "session")}
    for _ in range(ROUNDS):
        results["list"].append(await hammer("GET /api/v1/reports?patient_id=", lambda c, i: c.get(
            "/api/v1/reports", params={"patient_id": people[i % len(people)][1]}, headers=headers(i)),
            TOTAL, CONCURRENCY, base_url=url, max_seconds=WINDOW))
        results["bare_list"].append(await time_ops("bare report list find", list_op, TOTAL, CONCURRENCY,
                                                   max_seconds=WINDOW))
        results["detail"].append(await hammer("GET /api/v1/reports/{id}", lambda c, i: c.get(
            f"/api/v1/reports/{people[i % len(people)][2][i % REPORTS]}", headers=headers(i)),
            TOTAL, CONCURRENCY, base_url=url, max_seconds=WINDOW))
        results["bare_detail"].append(await time_ops("bare report find_one", detail_op, TOTAL, CONCURRENCY,
                                                     max_seconds=WINDOW))
        results["session"].append(await time_ops("bare session renew", session_op, TOTAL, CONCURRENCY,
                                                 max_seconds=WINDOW))
    await client.close()
    return results


def merged(runs: list[Stats]) -> Stats:
    return Stats(runs[0].name, sum(r.count for r in runs), sum(r.errors for r in runs),
                 sum(r.seconds for r in runs), [x for r in runs for x in r.latencies_ms])


def main() -> None:
    print(f"report_lookup: {PATIENTS} patients x {REPORTS} lab reports ({len(ITEMS)} items), "
          f"concurrency {CONCURRENCY}, {ROUNDS} interleaved rounds of {WINDOW:g}s")
    with private_database() as database, tempfile.TemporaryDirectory(prefix="palm-bench-var-") as var:
        started = time.monotonic()
        people = asyncio.run(seed(database.uri, var))
        print(f"  seeded in {time.monotonic() - started:.0f}s", flush=True)
        with app_processes(database.uri, 1, var_dir=var) as url:
            print(f"  app up at {time.monotonic() - started:.0f}s", flush=True)
            runs = asyncio.run(measure(database.uri, url, people))

    def median_ratio(a: str, b: str) -> float:
        return median([ratio(x, y) for x, y in zip(runs[a], runs[b])])

    report("report_lookup", merged(runs["list"]), vs_db=median_ratio("list", "bare_list"))
    report("report_lookup", merged(runs["bare_list"]))
    report("report_lookup", merged(runs["detail"]), vs_db=median_ratio("detail", "bare_detail"))
    report("report_lookup", merged(runs["bare_detail"]))
    report("report_lookup", merged(runs["session"]), vs_detail_find=median_ratio("session", "bare_detail"))


if __name__ == "__main__":
    main()
