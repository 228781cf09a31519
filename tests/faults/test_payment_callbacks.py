"""WeChat Pay callbacks arrive twice, late, out of order and while patients poll their
payment result: each bill is settled exactly once (one receipt, one message, one
listener call) — nothing lost, nothing doubled."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bson import ObjectId

from tests.billing.helpers import (
    messages,
    pay_at_cashier_quietly,
    post_callback,
    push_bill,
    signed_callback,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client

pytestmark = pytest.mark.slow
BILLS = 12


def test_callbacks_twice_late_out_of_order_and_polled_settle_each_bill_once(app):
    his = device_client(app, "his", "HIS 接口")
    families = []
    for n in range(3):
        client, _ = patient_client(app)
        families.append((client, add_patient(app, client, name="钱七", phone=f"1391234000{n}")))
    settled: list[str] = []

    async def listener(bill):
        settled.append(bill.id)

    app.services.billing.on_settled("his", listener)
    paid = []
    for n in range(BILLS):
        client, member = families[n % 3]
        bill = push_bill(his, member["id"])
        order = start_payment(client, bill["id"])
        paid.append((client, bill, order, pay_at_cashier_quietly(app, order)))

    # late: every bill's first notification was signed 4 minutes ago (still inside the
    # 5-minute window) and is delivered after the fresh re-deliveries
    app.clock.advance(minutes=-4)
    try:
        late = [(i, *signed_callback(app, tx)) for i, (_, _, _, tx) in enumerate(paid)]
    finally:
        app.clock.advance(minutes=4)
    fresh = [(i, *signed_callback(app, tx)) for i, (_, _, _, tx) in enumerate(paid) for _ in range(2)]
    random.Random(5).shuffle(fresh)                 # out of order across bills
    # the first third of the bills is settled by the patient's polling before any callback
    for client, _, order, _ in paid[:BILLS // 3]:
        assert client.get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"

    def deliver(item):
        _, body, headers = item
        return post_callback(app, body, headers).status_code

    def poll(i):
        client, _, order, _ = paid[i % BILLS]
        return httpx.get(f"{app.url}/api/v1/payments/{order['id']}", timeout=30,
                         headers={"Authorization": client.headers["Authorization"]}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        jobs = [pool.submit(deliver, item) for item in fresh] + \
               [pool.submit(poll, i) for i in range(3 * BILLS)]
        statuses = [job.result() for job in jobs]
        late_statuses = list(pool.map(deliver, late[::-1]))   # the late ones, newest bill first
    assert Counter(statuses) == {204: 2 * BILLS, 200: 3 * BILLS}, Counter(statuses)
    assert late_statuses == [204] * BILLS          # a late duplicate is acknowledged, not an error

    bill_ids = [bill["id"] for _, bill, _, _ in paid]
    wait_for(lambda: all(app.db.bills.find_one({"_id": ObjectId(b)}).get("effects_pending") is False
                         for b in bill_ids), timeout=30)
    # nothing lost, nothing doubled
    for _, bill, order, _ in paid:
        oid = ObjectId(bill["id"])
        assert app.db.bills.find_one({"_id": oid})["status"] == "paid"
        assert app.db.payments.find_one({"_id": ObjectId(order["id"])})["status"] == "paid"
        assert app.db.payments.count_documents({"bill_id": oid, "status": "paid"}) == 1
        assert app.db.receipts.count_documents({"bill_id": oid}) == 1
        assert len(messages(app, f"payment_succeeded:{bill['id']}")) == 1
        assert app.db.refunds.count_documents({"bill_id": oid}) == 0
        assert app.db.billing_flags.count_documents({"out_trade_no": order["out_trade_no"]}) == 0
    assert sorted(settled) == sorted(bill_ids)      # each listener heard each bill once
