"""After payment: each effect happens at least once, and only once per listener, even when a
listener fails and the job retries."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.billing.helpers import (
    messages,
    pay_at_cashier_quietly,
    push_bill,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="郑十")
    return {"his": his, "family": family, "me": me}


def test_a_failing_listener_is_retried_and_the_others_are_not_repeated(world, app):
    calls = {"steady": 0, "flaky": 0}

    async def steady(bill):
        calls["steady"] += 1

    async def flaky(bill):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("pharmacy system down")

    app.services.billing.on_settled("prescription", steady, name="steady")
    app.services.billing.on_settled("prescription", flaky, name="flaky")
    bill = push_bill(world["his"], world["me"]["id"], prescription_no="RX-EFFECTS-1")
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    assert world["family"].get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"
    wait_for(lambda: calls["flaky"] == 1 and calls["steady"] == 1)
    doc = wait_for(lambda: (d := app.db.bills.find_one({"_id": ObjectId(bill["id"])}))
                   and "prescription:steady" in d.get("effects_done", []) and d)
    assert doc["effects_pending"] is True   # not finished: the job will try again
    assert app.call(lambda s: s.billing.effects_once()) == 0   # the lease still holds
    app.clock.advance(minutes=2)
    try:
        assert app.call(lambda s: s.billing.effects_once()) == 1
    finally:
        app.clock.advance(minutes=-2)
    assert calls == {"steady": 1, "flaky": 2}
    doc = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    assert doc["effects_pending"] is False
    assert app.db.receipts.count_documents({"bill_id": doc["_id"]}) == 1
    assert len(messages(app, f"payment_succeeded:{bill['id']}")) == 1


def test_a_bill_fully_covered_by_insurance_is_paid_at_once(world, app):
    bill = push_bill(world["his"], world["me"]["id"], insurance={
        "pooled_fen": 6000, "personal_account_fen": 2300, "self_pay_fen": 0})
    assert bill["status"] == "paid" and bill["payable_fen"] == 0
    wait_for(lambda: app.db.receipts.find_one({"bill_id": ObjectId(bill["id"])}))


def test_kiosk_prints_the_receipt_and_the_read_is_audited(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    world["family"].get(f"/api/v1/payments/{order['id']}")
    wait_for(lambda: app.db.receipts.find_one({"bill_id": ObjectId(bill["id"])}))
    kiosk = device_client(app, "kiosk", "门诊大厅2号")
    code = world["family"].get(f"/api/v1/patients/{world['me']['id']}/visit-code").json()["token"]
    opened = kiosk.post("/api/v1/kiosk/sessions", json={"visit_code": code}).json()
    session = {"X-Kiosk-Session": opened["token"]}
    receipt = kiosk.get(f"/api/v1/kiosk/bills/{bill['id']}/receipt", headers=session)
    assert receipt.status_code == 200 and receipt.json()["paid_fen"] == 4300
    assert receipt.json()["patient_name"] == "郑*"
    assert app.db.audit_log.find_one({"action": "billing.print_receipt",
                                      "details.bill_id": bill["id"]})["patient_id"] == world["me"]["id"]
    assert world["his"].get(f"/api/v1/kiosk/bills/{bill['id']}/receipt").status_code == 403
    unpaid = push_bill(world["his"], world["me"]["id"])
    assert kiosk.get(f"/api/v1/kiosk/bills/{unpaid['id']}/receipt", headers=session).status_code == 404
