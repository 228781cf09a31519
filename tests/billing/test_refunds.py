"""Refunds: full and partial by finance, automatic for registration and double payments,
never more than was paid even when requested concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

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
from tests.support import add_patient, device_client, patient_client, staff_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="孙七", phone="13933334444")
    return {"his": his, "family": family, "me": me, "finance": staff_client(app, "finance", "钱会计")}


def paid_bill(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    assert world["family"].get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"
    return bill


def refunds_of(world, bill):
    return world["finance"].get(f"/api/v1/admin/bills/{bill['id']}/refunds").json()


def test_partial_then_full_refund_by_finance(world, app):
    bill = paid_bill(world, app)
    first = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                  json={"amount_fen": 1300, "reason": "检验项目未做"})
    assert first.status_code == 201 and first.json()["status"] in ("processing", "success")
    wait_for(lambda: refunds_of(world, bill)[0]["status"] == "success")
    assert world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "partially_refunded"
    rest = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                 json={"amount_fen": 3000, "reason": "患者退药"})
    assert rest.status_code == 201
    wait_for(lambda: all(r["status"] == "success" for r in refunds_of(world, bill)))
    latest = world["family"].get(f"/api/v1/bills/{bill['id']}").json()
    assert latest["status"] == "refunded" and latest["refunded_fen"] == 4300
    sent = wait_for(lambda: len(messages(app, "payment_refunded:")) >= 2 and
                    messages(app, "payment_refunded:"))
    assert {m["params"]["amount"] for m in sent} >= {"¥13.00", "¥30.00"}
    assert app.db.audit_log.count_documents({"action": "billing.refund"}) >= 2


def test_refund_beyond_what_was_paid_is_refused(world, app):
    bill = paid_bill(world, app)
    response = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                     json={"amount_fen": 4301, "reason": "多退"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "refund_exceeds_paid"
    assert response.json()["error"]["details"]["refundable_fen"] == 4300


def test_concurrent_refunds_never_exceed_the_payment(world, app):
    bill = paid_bill(world, app)

    def ask(_):
        return world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                     json={"amount_fen": 1000, "reason": "并发退款"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(ask, range(8)))
    assert codes.count(201) == 4 and codes.count(422) == 4
    wait_for(lambda: all(r["status"] == "success" for r in refunds_of(world, bill)))
    doc = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    assert doc["refunded_fen"] == 4000 and doc["refundable_fen"] == 300
    at_channel = sum(r["refund"] for r in app.db.sandbox_wxpay_refunds.find(
        {"out_trade_no": doc["out_trade_no"]}))
    assert at_channel == 4000


def test_unpaid_bill_cannot_be_refunded_and_only_finance_may_refund(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    response = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                     json={"amount_fen": 100, "reason": "x"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_not_refundable"
    for caller in (staff_client(app, "pharmacist"), staff_client(app, "admin")):
        assert caller.post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                           json={"amount_fen": 100, "reason": "x"}).status_code == 403
    assert world["family"].post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                                json={"amount_fen": 100, "reason": "x"}).status_code == 401


def test_automatic_refund_through_the_service(world, app):
    bill = paid_bill(world, app)
    refund = app.call(lambda s: s.billing.refund(bill["id"], 4300, "停诊自动退款", "registration"))
    assert refund.amount_fen == 4300
    wait_for(lambda: world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "refunded")


def test_a_second_payment_for_the_same_bill_is_flagged_and_given_back(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    first = start_payment(world["family"], bill["id"])
    app.db.payments.update_one({"_id": ObjectId(first["id"])}, {"$set": {
        "expires_at": app.clock.now() + timedelta(seconds=30)}})   # no longer reusable
    second = start_payment(world["family"], bill["id"])
    assert second["out_trade_no"] != first["out_trade_no"]
    tx1 = pay_at_cashier_quietly(app, first)   # the patient paid in two tabs
    tx2 = pay_at_cashier_quietly(app, second)
    assert post_callback(app, *signed_callback(app, tx1)).status_code == 204
    assert post_callback(app, *signed_callback(app, tx2)).status_code == 204
    doc = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    assert doc["status"] == "paid" and doc["out_trade_no"] == first["out_trade_no"]
    assert app.db.billing_flags.find_one({"_id": f"duplicate_payment:{second['out_trade_no']}"})
    refund = app.db.refunds.find_one({"out_trade_no": second["out_trade_no"]})
    assert refund["kind"] == "duplicate" and refund["amount_fen"] == 4300
    wait_for(lambda: app.db.sandbox_wxpay_refunds.find_one(
        {"out_trade_no": second["out_trade_no"], "status": "SUCCESS"}))
    assert doc["refundable_fen"] == 4300   # the bill's own payment is untouched
