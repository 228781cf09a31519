"""Must hold: 200 concurrent bookings on a slot of 20, through TWO `run.py serve` processes
sharing one database → exactly 20 succeed, the rest 409 slot_full, stored counts agree."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time as clock_time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta

import httpx
import pytest
from bson import ObjectId

from server.embedded_db import free_port
from server.secrets import save_dev_secrets
from services.clock import SHANGHAI, at_local
from services.identity import PatientIn
from services.registration.models import ScheduleIn, SlotIn
from tests.support import valid_id_number

pytestmark = pytest.mark.slow
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATIENTS, CAPACITY = 200, 20


def start_server(app, var_dir) -> tuple[subprocess.Popen, str]:
    """A real `run.py serve` process on the test database, sharing the test app's secrets."""
    port = free_port()
    env = {**os.environ, "MONGODB_URI": app.settings.database_uri, "PALM_ENV": "test",
           "PALM_DB_NAME": app.settings.db.name, "PALM_HTTP_PORT": str(port),
           "PALM_VAR_DIR": str(var_dir), "PALM_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "run.py", "serve", "--no-worker"], env=env,
                               cwd=ROOT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def wait_up(process: subprocess.Popen, url: str) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode()[-2000:])
        try:
            if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        clock_time.sleep(0.1)
    raise TimeoutError(url)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def make_patients(app, count: int) -> list[tuple[str, str]]:
    """(session token, patient id) for `count` real-name verified patients of their own."""
    async def make(s):
        async def one(i: int):
            account = await s.identity.account_for_phone(f"1370000{i:04d}")
            token = await s.identity.create_session("patient", str(account["_id"]))
            birth = datetime(1970 + i % 40, 1 + i % 12, 1 + i % 27).date()
            record = await s.identity.add_patient(str(account["_id"]), PatientIn(
                name=f"测试{i}", document_number=valid_id_number(birth, "male"),
                phone=f"1370000{i:04d}"))
            return token, record.id
        return await asyncio.gather(*(one(i) for i in range(count)))
    return app.call(make, timeout=300)


@pytest.mark.real_clock("two `run.py serve` processes keep their own wall clocks")
def test_two_processes_never_overbook_a_slot_of_twenty(seeded_app, tmp_path):
    app = seeded_app
    save_dev_secrets(tmp_path, app.secrets)
    # The servers use the real clock: a schedule three days from today, already released.
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    item = ScheduleIn(his_id="CONTENTION-1", doctor_code="D001", date=day, period="morning",
                      fee_fen=1200, slots=[SlotIn(start="09:00", end="09:30", capacity=CAPACITY)],
                      release_at=at_local(day - timedelta(days=10), time(7, 0)))
    result = app.call(lambda s: s.registration.upsert_schedules([item]))
    schedule_id = ObjectId(result.ids["CONTENTION-1"])
    slot_id = f"{schedule_id}-1"
    patients = make_patients(app, PATIENTS)

    servers = [start_server(app, tmp_path) for _ in range(2)]
    try:
        for process, url in servers:
            wait_up(process, url)
        urls = [url for _, url in servers]

        async def storm():
            limits = httpx.Limits(max_connections=PATIENTS)
            async with httpx.AsyncClient(timeout=60.0, limits=limits) as client:
                async def one(i: int, token: str, patient_id: str):
                    response = await client.post(
                        f"{urls[i % 2]}/api/v1/appointments",
                        json={"patient_id": patient_id, "slot_id": slot_id},
                        headers={"Authorization": f"Bearer {token}"})
                    return urls[i % 2], response.status_code, response.json()
                return await asyncio.gather(*(one(i, t, p) for i, (t, p) in enumerate(patients)))

        # a thread of its own: the browser fixtures may hold an event loop in this thread
        with ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, storm()).result()
    finally:
        for process, _ in servers:
            stop(process)

    statuses = Counter(status for _, status, _ in results)
    assert statuses == {201: CAPACITY, 409: PATIENTS - CAPACITY}, statuses
    assert {body["error"]["code"] for _, status, body in results if status == 409} == {"slot_full"}
    winners_by_server = Counter(url for url, status, _ in results if status == 201)
    assert len(winners_by_server) == 2, "both processes must have taken places"
    slot = app.db.schedules.find_one({"_id": schedule_id})["slots"][0]
    stored = app.db.appointments.count_documents({"slot_id": slot_id, "active": True})
    assert slot["remaining"] == 0 and stored == CAPACITY == slot["capacity"] - slot["remaining"]
    tickets = [body["ticket_no"] for _, status, body in results if status == 201]
    assert len(set(tickets)) == CAPACITY
