"""The embedded database is SIGKILLed and restarted in the middle of a booking storm:
no overbooking, every booking acknowledged with 201 is still there, and the app recovers
by itself (same process, no restart) — nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from bson import ObjectId

from server.embedded_db import EmbeddedDatabase, free_port
from tests import harness
from tests.faults.checks import assert_slots_consistent
from tests.harness import START_DAY, TEST_ENGINE, AppUnderTest
from tests.registration import test_contention as contention
from tests.registration.helpers import add_schedule
from tests.support import run_async

pytestmark = pytest.mark.slow
PATIENTS, SLOTS, CAPACITY = 90, 3, 12          # 90 patients on 36 places


@pytest.fixture
def own_database(tmp_path):
    database = EmbeddedDatabase(tmp_path / "db", port=free_port(), log_file=tmp_path / "db.log",
                                engine=TEST_ENGINE)
    database.start()
    yield database
    database.stop()


def test_database_killed_mid_storm_loses_no_acknowledged_booking(own_database, tmp_path):
    app = AppUnderTest(harness.test_settings(own_database.uri, tmp_path / "var", "palm_fault_db")).start()
    try:
        from services.demo import seed_demo
        app.call(lambda s: seed_demo(s.db, s.catalogue, s.clock, days=0))
        schedule = add_schedule(app, day=START_DAY + timedelta(days=2), capacity=CAPACITY, slots=SLOTS)
        slot_ids = [s["id"] for s in schedule["slots"]]
        patients = contention.make_patients(app, PATIENTS)
        results: list[tuple[int, int, dict]] = []
        killed = asyncio.Event()

        async def storm():
            async with httpx.AsyncClient(base_url=app.url, timeout=90.0,
                                         limits=httpx.Limits(max_connections=30)) as client:
                async def patient(i: int, token: str, patient_id: str):
                    await asyncio.sleep(random.Random(i).uniform(0, 2.0))
                    for _attempt in range(6):      # a patient retries an error, as people do
                        response = await client.post(
                            "/api/v1/appointments", json={"patient_id": patient_id,
                                                          "slot_id": slot_ids[i % SLOTS]},
                            headers={"Authorization": f"Bearer {token}"})
                        results.append((i, response.status_code, response.json()))
                        if response.status_code < 500:
                            return
                        await asyncio.sleep(1.0)

                async def killer():
                    while len(results) < PATIENTS // 4:
                        await asyncio.sleep(0.02)
                    await asyncio.to_thread(own_database.kill)   # SIGKILL mid-storm
                    killed.set()
                    await asyncio.sleep(1.5)
                    await asyncio.to_thread(own_database.start)  # same file, same port

                await asyncio.gather(killer(), *(patient(i, t, p) for i, (t, p) in enumerate(patients)))

        run_async(storm())
        assert killed.is_set()
        statuses = Counter(status for _, status, _ in results)
        assert 500 not in statuses, statuses          # an outage is a 503, never a 500

        # the app recovers by itself: ready again and booking works, without a restart
        deadline = time.monotonic() + 30
        while app.http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.2)

        # nothing lost, nothing doubled
        acknowledged = [body["id"] for _, status, body in results if status == 201]
        assert acknowledged, statuses
        for appointment_id in acknowledged:
            doc = app.db.appointments.find_one({"_id": ObjectId(appointment_id)})
            assert doc is not None and doc["active"], appointment_id
        finals = Counter(status for i, status, _ in results
                         if status < 500 and status != 201) + Counter({201: len(acknowledged)})
        assert len(acknowledged) <= SLOTS * CAPACITY                       # no overbooking
        stored = app.db.appointments.count_documents({"schedule_id": ObjectId(schedule["id"]),
                                                      "active": True})
        assert stored >= len(acknowledged)      # a booking whose 201 was lost may exist too
        # a booking the database died under left a hold on its place: the worker's repair
        # job settles it once the hold is old enough
        app.clock.set(app.clock.now() + timedelta(minutes=3))
        app.call(lambda s: s.registration.repair_holds())
        assert_slots_consistent(app.db, [ObjectId(schedule["id"])])
        assert not app.db.schedules.find_one({"_id": ObjectId(schedule["id"])}).get("holds")
        assert finals[201] + finals.get(409, 0) > 0
    finally:
        app.stop(drop=False)
