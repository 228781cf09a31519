"""Number-release storm (放号): many patients hit the booking endpoint the moment a day's
places open, through 2 app processes on one database. Prints bookings/s, latency
percentiles, the overbooked count (must be 0) and the ratio of the endpoint's throughput
to the same atomic capacity update done directly with pymongo, measured in the same run.

    python bench/number_release.py                    # 300 attempts on 75 places, < 60 s
    python bench/number_release.py 2000 500 64        # attempts, places, concurrency

Patients are written straight into the private database BEFORE the app starts (with
identity's own encrypt_patient/person_key/hash_token, the app's secrets), so that the
storm, not the setup, is what is measured. Each patient may hold up to 5 bookings a day here
(PALM_REGISTRATION_MAX_ACTIVE_PER_PATIENT_PER_DAY), so each patient makes 3 attempts,
each on a different schedule.
"""

from __future__ import annotations

import asyncio
import random
import secrets as pysecrets
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient, ReturnDocument

from bench.common import Stats, app_processes, private_database, ratio, report, time_ops
from server.secrets import Secrets, save_dev_secrets
from services.clock import SHANGHAI, at_local
from services.crypto import FieldCipher
from services.identity.idcard import make_id_card
from services.identity.patients import PatientIn, encrypt_patient
from services.identity.service import person_key
from services.identity.service import hash_token
from services.registration.base import schedule_oid, slot_id, slot_pipeline

# Default: 300 attempts by 100 patients on 75 places (4 attempts per place, as in "2,000
# patients on 500 places"), sized so the whole run stays under 60 s on the embedded database
# of a shared 2-core machine. `python bench/number_release.py 2000 500 64` runs the full
# storm (attempts, places, concurrency) on a faster machine or a real MongoDB.
ATTEMPTS_EACH = 3
ATTEMPTS, PLACES, CONCURRENCY = 300, 75, 32
if len(sys.argv) > 1:
    ATTEMPTS, PLACES, CONCURRENCY = (int(x) for x in sys.argv[1:4])
PATIENTS = -(-ATTEMPTS // ATTEMPTS_EACH)
PLACES_EACH = 3 if PLACES % 3 == 0 else 5 if PLACES % 5 == 0 else 1
SCHEDULES = PLACES // PLACES_EACH
DB_NAME = "palm"


def seed_patients(uri: str, secrets: Secrets) -> list[tuple[str, str]]:
    """(token, patient id) for PATIENTS real-name verified patients, one account each."""
    cipher = FieldCipher(secrets.data_keys, secrets.data_key_id, secrets.index_key)
    now = datetime.now(UTC)
    accounts, patients, sessions, result = [], [], [], []
    for i in range(PATIENTS):
        phone = f"136{i:08d}"
        account_id, patient_id = ObjectId(), ObjectId()
        birth = datetime(1960 + i % 40, 1 + i % 12, 1 + i % 27).date()
        body = PatientIn(name=f"压测{i}", document_number=make_id_card("330106", birth, 11 + i % 80,
                                                                       "male"), phone=phone)
        accounts.append({"_id": account_id, "phone_bidx": cipher.blind_index(phone, "phone"),
                         "phone": cipher.encrypt(phone, aad="phone"), "openids": [],
                         "patient_count": 1, "created_at": now})
        encrypted = encrypt_patient(cipher, body)
        patients.append({"_id": patient_id, "account_id": account_id, **encrypted,
                         "person_key": person_key(account_id, encrypted["document_bidx"]),
                         "is_default": True, "hospital_card_no": None, "created_at": now,
                         "updated_at": now, "deleted": False})
        token = pysecrets.token_urlsafe(32)
        sessions.append({"token_hash": hash_token(token), "kind": "patient",
                         "subject_id": str(account_id), "created_at": now, "last_seen_at": now,
                         "expires_at": now + timedelta(days=30), "ip": ""})
        result.append((token, str(patient_id)))
    with MongoClient(uri) as client:
        db = client[DB_NAME]
        for name, docs in (("accounts", accounts), ("patients", patients), ("sessions", sessions)):
            for i in range(0, len(docs), 200):
                db[name].insert_many(docs[i:i + 200], ordered=False)
    return result


def storm_schedules(db, prefix: str, release_at: datetime, day) -> list[ObjectId]:
    """SCHEDULES schedules of one 30-minute slot with PLACES_EACH places, released together."""
    departments = {d["_id"]: d for d in db.departments.find({})}
    limited = {"儿科", "妇科", "产科"}          # department age/sex rules are not the point here
    doctors = [d for d in db.doctors.find({}, {"_id": 1, "name": 1, "title": 1, "department_id": 1})
               if departments[d["department_id"]]["name"] not in limited]
    ids, docs = [], []
    for n in range(SCHEDULES):
        doctor = doctors[n % len(doctors)]
        dept = departments[doctor["department_id"]]
        his_id = f"{prefix}-{n}"
        sid = schedule_oid(his_id)
        start = at_local(day, dtime(8 + n % 8, 0))
        ids.append(sid)
        docs.append({
            "_id": sid, "his_id": his_id, "doctor_id": doctor["_id"], "doctor_name": doctor["name"],
            "doctor_title": doctor["title"], "department_id": dept["_id"],
            "department_code": dept["code"], "department_name": dept["name"], "campus_code": "main",
            "clinic_id": f"main-{dept['code']}", "room": "压测诊室", "date": day.isoformat(),
            "period": "morning", "type": "general", "fee_fen": 1200, "status": "open",
            "release_at": release_at, "created_at": release_at, "updated_at": release_at,
            "slots": [{"seq": 1, "key": "08:00", "start": start, "end": start + timedelta(minutes=30),
                       "capacity": PLACES_EACH, "remaining": PLACES_EACH, "issued": 0}]})
    db.schedules.insert_many(docs)
    return ids


async def storm(url: str, patients: list[tuple[str, str]],
                schedule_ids: list[ObjectId]) -> tuple[Stats, Counter]:
    """Every patient tries ATTEMPTS_EACH different schedules, CONCURRENCY requests in flight."""
    rng = random.Random(7)
    jobs = [(token, pid, sid) for token, pid in patients
            for sid in rng.sample(schedule_ids, ATTEMPTS_EACH)]
    rng.shuffle(jobs)
    codes: Counter = Counter()
    latencies: list[float] = []
    queue = iter(jobs)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:
        async def worker() -> None:
            for token, pid, sid in queue:
                started = time.perf_counter()
                response = await client.post("/api/v1/appointments", json={
                    "patient_id": pid, "slot_id": slot_id(sid, 1)},
                    headers={"Authorization": f"Bearer {token}"})
                latencies.append((time.perf_counter() - started) * 1000)
                codes[response.json().get("error", {}).get("code", "booked")
                      if response.status_code != 201 else "booked"] += 1

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])
        elapsed = time.perf_counter() - started
    return Stats("POST /appointments x2 proc", len(latencies),
                 sum(v for k, v in codes.items() if k not in ("booked", "slot_full")),
                 elapsed, latencies), codes


async def bare_storm(uri: str, schedule_ids: list[ObjectId]) -> Stats:
    """The same atomic capacity update, straight from pymongo, same attempts and concurrency."""
    client = AsyncMongoClient(uri, tz_aware=True)
    schedules = client[DB_NAME].schedules
    rng = random.Random(7)
    targets = [rng.choice(schedule_ids) for _ in range(PATIENTS * ATTEMPTS_EACH)]

    when = {"$and": [{"$gt": ["$$s.remaining", 0]}, {"$eq": ["$status", "open"]}]}

    async def op(i: int) -> None:   # exactly RegistrationService.take_place's update
        await schedules.find_one_and_update(
            {"_id": targets[i]}, slot_pipeline(1, when, {"remaining": -1, "issued": 1}),
            projection={"slots": 1, "status": 1}, return_document=ReturnDocument.BEFORE)

    stats = await time_ops("bare find_one_and_update", op, len(targets), CONCURRENCY)
    await client.close()
    return stats


def overbooked(db, schedule_ids: list[ObjectId]) -> tuple[int, int]:
    """(places booked beyond capacity, slots whose stored count disagrees with bookings)."""
    over = disagree = 0
    for schedule in db.schedules.find({"_id": {"$in": schedule_ids}}):
        slot = schedule["slots"][0]
        held = db.appointments.count_documents({"slot_id": slot_id(schedule["_id"], 1),
                                                "active": True})
        over += max(0, held - slot["capacity"]) + max(0, -slot["remaining"])
        disagree += held != slot["capacity"] - slot["remaining"]
    return over, disagree


def main(key_algorithm: str = "aes-256-gcm") -> float:
    """Run the storm with an active data key of `key_algorithm`; returns booking requests/s."""
    begun = time.perf_counter()
    print(f"number release: {PATIENTS} patients x {ATTEMPTS_EACH} attempts on "
          f"{SCHEDULES * PLACES_EACH} places ({SCHEDULES} schedules), 2 app processes")
    with private_database() as database, tempfile.TemporaryDirectory(prefix="palm-bench-var-") as var:
        app_secrets = Secrets.generate(key_algorithm)
        save_dev_secrets(Path(var), app_secrets)
        patients = seed_patients(database.uri, app_secrets)
        env = {"PALM_REGISTRATION_MAX_ACTIVE_PER_PATIENT_PER_DAY": str(ATTEMPTS_EACH),
               "PALM_REGISTRATION_MAX_ACTIVE_PER_ACCOUNT_PER_DAY": str(ATTEMPTS_EACH),
               # bench.common reads the servers' stderr only at exit: 409 access-log lines
               # (WARNING) would fill the pipe and stall the servers mid-storm
               "PALM_LOG_LEVEL": "ERROR"}
        with app_processes(database.uri, processes=2, extra_env=env, var_dir=var) as url:
            sync = MongoClient(database.uri, tz_aware=True)
            db = sync[DB_NAME]
            for _ in range(600):                 # the first process seeds the demo hospital
                if db.schedules.count_documents({}) > 0:
                    break
                time.sleep(0.1)
            time.sleep(1.0)
            day = datetime.now(SHANGHAI).date() + timedelta(days=2)
            release_at = datetime.now(UTC) + timedelta(seconds=4)
            app_ids = storm_schedules(db, "STORM", release_at, day)
            bare_ids = storm_schedules(db, "BARE", release_at, day)
            early = httpx.post(f"{url}/api/v1/appointments", json={
                "patient_id": patients[0][1], "slot_id": slot_id(app_ids[0], 1)},
                headers={"Authorization": f"Bearer {patients[0][0]}"}, timeout=60.0)
            assert early.status_code == 422 and early.json()["error"]["code"] == "not_released", \
                f"{early.text} {datetime.now(UTC)} {release_at}"
            time.sleep(max(0.0, (release_at - datetime.now(UTC)).total_seconds()))
            stats, codes = asyncio.run(storm(url, patients, app_ids))
            bare = asyncio.run(bare_storm(database.uri, bare_ids))
            over, disagree = overbooked(db, app_ids)
            sync.close()
    booked = codes["booked"]
    print(f"  outcomes: {dict(codes)}")
    print(f"  bookings/s {booked / stats.seconds:.1f}  (requests/s {stats.rps:.1f}; "
          f"{booked} of {SCHEDULES * PLACES_EACH} places taken in {stats.seconds:.1f}s)")
    print(f"  overbooked places: {over}   slots whose count disagrees with bookings: {disagree}")
    report("number_release", stats, vs_db=ratio(stats, bare),
           bookings_per_s=booked / stats.seconds, overbooked=float(over))
    report("number_release", bare)
    print(f"  endpoint / bare pymongo update throughput: {ratio(stats, bare):.3f}"
          f"   (total {time.perf_counter() - begun:.0f}s)")
    if over or disagree:
        raise SystemExit("number release storm broke an invariant")
    return stats.rps


if __name__ == "__main__":
    main()
