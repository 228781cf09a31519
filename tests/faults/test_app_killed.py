"""An app process (`run.py serve`) is SIGKILLed in the middle of requests under load —
bookings, payments and pharmacy stage advances in flight — and a new one is started on
the same database. Afterwards nothing is half-written: for every slot remaining + active
bookings == capacity; every paid bill has exactly one paid payment, one receipt and one
message; every prescription's stage history ends at its current stage through allowed
transitions. Nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections import Counter
from datetime import datetime, time, timedelta

import httpx
import pytest
from bson import ObjectId

from server.secrets import save_dev_secrets
from services.actors import Actor
from services.clock import SHANGHAI, at_local
from services.pharmacy.models import PrescriptionIn
from services.pharmacy.stages import TRANSITIONS
from services.registration.models import ScheduleIn, SlotIn
from tests.billing.helpers import bill_payload, messages
from tests.faults.checks import assert_slots_consistent
from tests.registration import test_contention as contention
from tests.support import device_client, run_async, staff_client

pytestmark = pytest.mark.slow
PATIENTS, BAGS = 60, 30
FLOW = ["reviewed", "dispensed", "checked", "soaking"]   # decocting waits for the soak


def kill(process) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def setup(app) -> dict:
    day = datetime.now(SHANGHAI).date() + timedelta(days=3)
    item = ScheduleIn(his_id="KILL-1", doctor_code="D001", date=day, period="morning", fee_fen=1200,
                      slots=[SlotIn(start=f"{9 + k:02d}:00", end=f"{9 + k:02d}:30", capacity=8)
                             for k in range(3)],
                      release_at=at_local(day - timedelta(days=10), time(7, 0)))
    schedule_id = app.call(lambda s: s.registration.upsert_schedules([item])).ids["KILL-1"]
    patients = contention.make_patients(app, PATIENTS)
    his = device_client(app, "his", "HIS 接口")
    bills = []
    for _, patient_id in patients[:PATIENTS // 2]:
        response = his.post("/api/v1/his/bills", json=bill_payload(patient_id))
        assert response.status_code == 201, response.text
        bills.append(response.json()["id"])
    actor = Actor(kind="device", id="fault-his", roles=frozenset({"his"}), label="HIS")
    for n in range(BAGS):
        app.call(lambda s, n=n: s.pharmacy.receive_prescription(actor, PrescriptionIn(
            rx_no=f"KILL{n:05d}", patient_name="孙八", doses=7, herbs=[{"name": "黄芪", "grams": 30}],
            mode="pharmacy", delivery="pickup")))
    bags = [str(d["_id"]) for d in app.db.prescriptions.find({"rx_no": {"$regex": "^KILL"}})]
    pharmacist = staff_client(app, "pharmacist").headers["Authorization"]
    return {"schedule_id": schedule_id, "patients": patients, "bills": bills, "bags": bags,
            "pharmacist": pharmacist}


async def load(url: str, world: dict, done: list[tuple[str, int]], stop: asyncio.Event) -> None:
    """Patients book and pay, pharmacists advance bags, until `stop` (or all is done)."""
    schedule_id = world["schedule_id"]
    async with httpx.AsyncClient(base_url=url, timeout=20.0) as client:
        async def safe(kind: str, method: str, path: str, **kwargs) -> httpx.Response | None:
            if stop.is_set():
                return None
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.HTTPError:
                done.append((kind, -1))
                return None
            done.append((kind, response.status_code))
            return response

        async def patient(i: int, token: str, patient_id: str):
            auth = {"Authorization": f"Bearer {token}"}
            await safe("book", "POST", "/api/v1/appointments", headers=auth,
                       json={"patient_id": patient_id, "slot_id": f"{schedule_id}-{i % 3 + 1}"})
            if i < len(world["bills"]):
                order = await safe("pay", "POST", f"/api/v1/bills/{world['bills'][i]}/pay",
                                   headers=auth, json={"channel": "sandbox"})
                if order is not None and order.status_code == 200:
                    prepay = order.json()["jsapi"]["package"].removeprefix("prepay_id=")
                    await safe("cashier", "POST", f"/sandbox/wechatpay/cashier/{prepay}/pay")

        async def pharmacist(bags: list[str]):
            auth = {"Authorization": world["pharmacist"]}
            for stage in FLOW:
                for bag in bags:
                    await safe("advance", "POST", f"/api/v1/pharmacy/prescriptions/{bag}/advance",
                               headers=auth, json={"to_stage": stage})

        bags = world["bags"]
        await asyncio.gather(*(patient(i, t, p) for i, (t, p) in enumerate(world["patients"])),
                             *(pharmacist(bags[k::3]) for k in range(3)))


@pytest.mark.real_clock("the killed and restarted `run.py serve` processes run on the wall clock")
def test_killed_app_process_leaves_no_half_written_state(seeded_app, tmp_path):
    app = seeded_app
    save_dev_secrets(tmp_path, app.secrets)
    world = setup(app)
    first, url = contention.start_server(app, tmp_path)
    done: list[tuple[str, int]] = []
    try:
        contention.wait_up(first, url)

        async def storm_and_kill():
            stop = asyncio.Event()
            storm = asyncio.create_task(load(url, world, done, stop))
            while len(done) < 60 and not storm.done():
                await asyncio.sleep(0.01)
            kill(first)                      # mid-request: dozens are in flight
            stop.set()
            await storm

        run_async(storm_and_kill())
    finally:
        if first.poll() is None:
            kill(first)
    assert Counter(kind for kind, _ in done)["book"] > 0 and any(s == -1 for _, s in done), \
        "the kill must land while requests are in flight"

    second, url = contention.start_server(app, tmp_path)   # the replacement process

    def look_at_payment_results() -> None:
        """What each patient's payment result page does: ask for the result (which asks the
        channel while it is pending), so a payment whose callback is lost or still in
        flight is settled anyway."""
        for i, (token, _) in enumerate(world["patients"][:len(world["bills"])]):
            orders = app.db.payments.find({"bill_id": ObjectId(world["bills"][i])})
            for order in orders:
                response = httpx.get(f"{url}/api/v1/payments/{order['_id']}", timeout=20,
                                     headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.text

    try:
        contention.wait_up(second, url)
        # the people come back: patients look at their payment result, and retry what
        # failed; pharmacists carry on; then the patients look at their results again
        look_at_payment_results()
        run_async(load(url, world, done, asyncio.Event()))
        look_at_payment_results()
    finally:
        contention.stop(second)
    # effects of payments settled by the killed process: the worker's retry (leases expire)
    while app.call(lambda s: s.billing.effects_once()):
        pass
    print("requests:", sorted(Counter(done).items()))
    assert Counter(status for _, status in done)[500] == 0, Counter(done)

    # nothing lost, nothing doubled: bookings (a booking killed between taking its place and
    # writing the appointment left a hold; the worker's repair job settles it)
    app.call(lambda s: s.registration.repair_holds())
    assert_slots_consistent(app.db, [ObjectId(world["schedule_id"])])
    # payments: every paid bill has one paid payment, one receipt, one message
    paid = 0
    for bill_id in world["bills"]:
        oid = ObjectId(bill_id)
        bill = app.db.bills.find_one({"_id": oid})
        paid_payments = app.db.payments.count_documents({"bill_id": oid, "status": "paid"})
        receipts = app.db.receipts.count_documents({"bill_id": oid})
        if bill["status"] == "paid":
            paid += 1
            assert (paid_payments, receipts, bill.get("effects_pending")) == (1, 1, False), bill_id
            assert len(messages(app, f"payment_succeeded:{bill_id}")) == 1
        else:
            assert (paid_payments, receipts) == (0, 0), bill_id
    assert paid == len(world["bills"])     # every payment made at the channel got settled
    # stages: history is a chain of allowed transitions ending at the current stage
    for doc in app.db.prescriptions.find({"rx_no": {"$regex": "^KILL"}}):
        steps = [step["stage"] for step in sorted(doc["history"], key=lambda s: s["n"])]
        assert steps[-1] == doc["stage"] == "soaking", (doc["rx_no"], steps)
        assert all(b in TRANSITIONS["pharmacy"][a] for a, b in itertools.pairwise(steps)), steps
        assert [s["n"] for s in sorted(doc["history"], key=lambda s: s["n"])] == list(
            range(1, len(steps) + 1)) and doc["step_n"] == len(steps)
