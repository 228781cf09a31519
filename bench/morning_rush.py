"""The morning rush (早高峰): the read mix of a real outpatient morning, through 1 and 2 app
processes, against the bare database operations behind it and Tornado's own ceiling,
all measured in the same run.

    python bench/morning_rush.py

Mix (weights per 100 requests; from what patients do between 07:30 and 10:00 — blood
drawn at 07:30, results out from 08:30, clinics running, the TCM pharmacy decocting):

    30  GET /api/v1/reports?patient_id=…         report list (the most refreshed page)
    15  GET /api/v1/reports/{id}                  one report's detail
    20  GET /api/v1/schedules?department_id&date  schedule browsing (public)
     5  GET /api/v1/schedule-dates?department_id  which days a department has places
    20  GET /api/v1/appointments/{id}/queue       queue polling while waiting (every 15-30 s)
    10  GET /h5/decoction/{token}                 decoction progress page (server-rendered)

The bare-database baseline runs the SAME weighted mix of the queries those endpoints are
built on (report find/find_one, schedule find, appointment find_one + the "who is being
called" find_one, prescription find_one), without HTTP, sessions, ownership checks,
decryption, validation or rendering. Ratios: mix req/s ÷ bare ops/s, mix req/s ÷
trivial-Tornado req/s, each with the same number of processes.

Seeding goes through the app's own services (identity, reports import, registration
booking, pharmacy intake) and the demo seed (catalogue and schedules) before the app starts.
"""

from __future__ import annotations

import asyncio
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
    app_processes,
    hammer,
    private_database,
    ratio,
    report,
    time_ops,
    tornado_ceiling,
)

PATIENTS, REPORTS, BAGS = 24, 4, 24
TOTAL, CONCURRENCY, MAX_SECONDS = 4000, 32, 6.0
WEIGHTS = {"report_list": 30, "report_detail": 15, "schedules": 20, "schedule_dates": 5,
           "queue": 20, "decoction_page": 10}
ITEMS = [("WBC", "白细胞计数", "3.5-9.5", "10^9/L"), ("HGB", "血红蛋白", "130-175", "g/L"),
         ("PLT", "血小板计数", "125-350", "10^9/L"), ("GLU", "葡萄糖", "3.9-6.1", "mmol/L"),
         ("ALT", "丙氨酸氨基转移酶", "9-50", "U/L"), ("CREA", "肌酐", "57-111", "umol/L")]


def _plan() -> list[str]:
    """A fixed, shuffled sequence of request kinds in the documented proportions."""
    kinds = [k for k, w in WEIGHTS.items() for _ in range(w)]
    random.Random(3).shuffle(kinds)
    return kinds


PLAN = _plan()


def _settings(uri: str, var_dir: str):
    from server.settings import load_settings
    return load_settings(environ={"PALM_ENV": "development", "MONGODB_URI": uri,
                                  "PALM_VAR_DIR": var_dir, "PALM_LOG_LEVEL": "WARNING"})


async def seed(uri: str, var_dir: str) -> dict:
    """Demo hospital, patients with reports and a booking for tomorrow, decoction bags."""
    from server.startup import running
    from services.actors import Actor
    from services.demo import seed_demo
    from services.errors import DomainError
    from services.identity.idcard import make_id_card
    from services.identity.patients import PatientIn
    from services.pharmacy.models import PrescriptionIn
    from services.reports import HisReportIn

    rng = random.Random(11)
    his = Actor(kind="device", id="bench-his", roles=frozenset({"his"}), label="HIS")
    people, tokens, browse = [], [], []
    async with running(_settings(uri, var_dir)) as services:
        await seed_demo(services.db, services.catalogue, services.clock)
        services.pharmacy.notify = None   # seeding only: no messages for bench bags
        tomorrow = (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=1)
        schedules = await services.db.schedules.find(
            {"date": {"$gte": tomorrow.isoformat()}}).sort([("date", 1)]).to_list(400)
        browse = sorted({(str(s["department_id"]), s["date"]) for s in schedules})[:40]
        slots = [f"{s['_id']}-{i + 1}" for s in schedules for i, _ in enumerate(s.get("slots", []))]
        for n in range(PATIENTS):
            phone = f"138{n:08d}"
            account = await services.identity.account_for_phone(phone)
            account_id = str(account["_id"])
            birth = datetime(1950 + n % 50, 1 + n % 12, 1 + n % 28).date()
            patient = await services.identity.add_patient(account_id, PatientIn(
                name="李" + "建国秀英丽华强明"[n % 8] + "测", document_number=make_id_card(
                    "330106", birth, 200 + n, "male" if n % 2 else "female"), phone=phone))
            token = await services.identity.create_session("patient", account_id)
            bodies = []
            for r in range(REPORTS):
                when = datetime.now(UTC) - timedelta(days=r * 3, hours=2)
                items = [{"code": c, "name": nm, "reference_range": ref, "unit": unit,
                          "value": f"{rng.uniform(0.6, 1.3) * float(ref.split('-')[1]):.1f}"}
                         for c, nm, ref, unit in ITEMS]
                bodies.append(HisReportIn.model_validate({
                    "source": "LIS", "report_id": f"M{n:04d}-{r}", "kind": "lab", "status": "final",
                    "patient_id": patient.id, "title": "血常规+生化", "department": "检验科",
                    "collected_at": when, "reported_at": when + timedelta(hours=1), "items": items}))
            await services.reports.import_history(bodies)
            report_ids = [str(d["_id"]) async for d in
                          services.db.reports.find({"patient_id": patient.id}, {"_id": 1})]
            appointment = None
            for slot in slots[n * 3:] + slots[:n * 3]:   # spread over schedules; skip full ones
                try:
                    appointment = (await services.registration.book(account_id, patient.id, slot)).id
                    break
                except DomainError:   # a full or closed slot: try the next one
                    appointment = None
            people.append({"token": token, "patient_id": patient.id, "reports": report_ids,
                           "appointment": appointment})
        for i in range(BAGS):
            body = PrescriptionIn(rx_no=f"MR{i:06d}", patient_name="压测患者", doses=7,
                                  herbs=[{"name": "黄芪", "grams": 30}], mode="pharmacy",
                                  delivery="pickup")
            await services.pharmacy.receive_prescription(his, body)
            doc = await services.pharmacy.prescriptions.find_one({"rx_no": body.rx_no})
            tokens.append(services.pharmacy.progress_token(doc))
    missing = sum(1 for p in people if not p["appointment"])
    if missing:
        raise RuntimeError(f"{missing} bench patients could not book a place")
    return {"people": people, "tokens": tokens, "browse": browse}


def request_for(data: dict):
    people, tokens, browse = data["people"], data["tokens"], data["browse"]

    def request(client, i: int):
        kind = PLAN[i % len(PLAN)]
        person = people[i % len(people)]
        headers = {"Authorization": f"Bearer {person['token']}"}
        if kind == "report_list":
            return client.get("/api/v1/reports", params={"patient_id": person["patient_id"]},
                              headers=headers)
        if kind == "report_detail":
            return client.get(f"/api/v1/reports/{person['reports'][i % REPORTS]}", headers=headers)
        if kind == "schedules":
            department_id, day = browse[i % len(browse)]
            return client.get("/api/v1/schedules", params={"department_id": department_id, "date": day})
        if kind == "schedule_dates":
            return client.get("/api/v1/schedule-dates", params={"department_id": browse[i % len(browse)][0]})
        if kind == "queue":
            return client.get(f"/api/v1/appointments/{person['appointment']}/queue", headers=headers)
        return client.get(f"/h5/decoction/{tokens[i % len(tokens)]}")
    return request


async def bare_mix(uri: str, data: dict):
    """The same weighted mix, as the bare queries the endpoints are built on."""
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["palm"]
    people, browse = data["people"], data["browse"]
    appointments = [ObjectId(p["appointment"]) for p in people]
    rx = [f"MR{i:06d}" for i in range(BAGS)]
    departments = [ObjectId(d) if ObjectId.is_valid(d) else d for d, _ in browse]

    async def op(i: int):
        kind = PLAN[i % len(PLAN)]
        person = people[i % len(people)]
        if kind == "report_list":
            await db.reports.find({"patient_id": person["patient_id"]}, {"history": 0, "prints": 0}
                                  ).sort([("sort_at", -1)]).limit(200).to_list()
        elif kind == "report_detail":
            await db.reports.find_one({"_id": ObjectId(person["reports"][i % REPORTS])})
        elif kind in ("schedules", "schedule_dates"):
            await db.schedules.find({"department_id": departments[i % len(departments)],
                                     "date": browse[i % len(browse)][1]}).to_list(50)
        elif kind == "queue":
            doc = await db.appointments.find_one({"_id": appointments[i % len(appointments)]})
            await db.appointments.find_one({"schedule_id": doc["schedule_id"], "status": "called"})
        else:
            await db.prescriptions.find_one({"rx_no": rx[i % len(rx)]})

    stats = await time_ops("bare DB mix", op, TOTAL, CONCURRENCY, max_seconds=MAX_SECONDS)
    await client.close()
    return stats


def main() -> None:
    print(f"morning_rush: mix {WEIGHTS}, concurrency {CONCURRENCY}, {MAX_SECONDS:g}s windows")
    with private_database() as database, tempfile.TemporaryDirectory(prefix="palm-bench-var-") as var:
        started = time.monotonic()
        data = asyncio.run(seed(database.uri, var))
        print(f"  seeded in {time.monotonic() - started:.0f}s ({PATIENTS} patients, "
              f"{PATIENTS * REPORTS} reports, {BAGS} bags)", flush=True)
        for processes in (1, 2):
            with tornado_ceiling(processes) as ceiling_url:
                ceiling = asyncio.run(hammer("tornado ceiling", lambda c, i: c.get(ceiling_url + "/healthz"),
                                             TOTAL, CONCURRENCY, max_seconds=MAX_SECONDS))
            ceiling.name = f"tornado ceiling x{processes} proc"
            with app_processes(database.uri, processes, var_dir=var) as url:
                stats = asyncio.run(hammer(f"morning mix x{processes} proc", request_for(data),
                                           TOTAL, CONCURRENCY, base_url=url, max_seconds=MAX_SECONDS))
            bare = asyncio.run(bare_mix(database.uri, data))
            report("morning_rush", stats, vs_db=ratio(stats, bare), vs_tornado=ratio(stats, ceiling),
                   processes=processes)
            report("morning_rush", bare, processes=processes)
            report("morning_rush", ceiling, processes=processes)


if __name__ == "__main__":
    main()
