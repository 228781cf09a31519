"""Paying a bill through the sandbox channel: order, cashier, callback, settlement, effects."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.billing.helpers import (
    messages,
    pay_at_cashier,
    pay_at_cashier_quietly,
    prepay_id,
    push_bill,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="王五", phone="13911112222")
    settled, expired = [], []

    async def on_his(bill):
        settled.append(("his", bill.id))

    async def on_rx(bill):
        settled.append(("prescription", bill.id))

    async def on_registration_expired(bill):
        expired.append(bill.id)

    app.services.billing.on_settled("his", on_his)
    app.services.billing.on_settled("prescription", on_rx)
    app.services.billing.on_expired("registration", on_registration_expired)
    return {"his": his, "family": family, "me": me, "settled": settled, "expired": expired}


def test_pay_returns_signed_jsapi_params_and_amount_from_the_bill(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    assert order["amount_fen"] == 4300 and order["status"] == "pending"
    assert set(order["jsapi"]) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert order["jsapi"]["signType"] == "RSA" and order["cashier_url"].startswith(
        "/sandbox/wechatpay/cashier/wx")
    sandbox_order = app.db.sandbox_wxpay_orders.find_one({"_id": order["out_trade_no"]})
    assert sandbox_order["total"] == 4300 and sandbox_order["attach"] == bill["id"]
    # the client cannot choose the amount: unknown fields are refused
    response = world["family"].post(f"/api/v1/bills/{bill['id']}/pay",
                                    json={"channel": "sandbox", "amount_fen": 1})
    assert response.status_code == 400


def test_paying_at_the_cashier_settles_the_bill_with_receipt_message_and_listeners(world, app):
    bill = push_bill(world["his"], world["me"]["id"], prescription_no="RX20261201")
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier(app, order)
    wait_for(lambda: world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "paid")
    payment = world["family"].get(f"/api/v1/payments/{order['id']}").json()
    assert payment["status"] == "paid" and payment["bill_status"] == "paid"
    receipt = wait_for(lambda: world["family"].get(f"/api/v1/bills/{bill['id']}/receipt").json()
                       if app.db.receipts.find_one({"bill_id": payment_bill_oid(bill)}) else None)
    assert receipt["paid_fen"] == 4300 and receipt["receipt_no"].startswith("PJ")
    wait_for(lambda: ("prescription", bill["id"]) in world["settled"])
    assert ("his", bill["id"]) in world["settled"]
    sent = wait_for(lambda: messages(app, f"payment_succeeded:{bill['id']}"))
    assert len(sent) == 1 and sent[0]["params"]["amount"] == "¥43.00"
    assert sent[0]["params"]["patient"] == "王*"


def payment_bill_oid(bill):
    from bson import ObjectId
    return ObjectId(bill["id"])


def test_a_lost_callback_is_recovered_by_the_result_page_polling(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    assert world["family"].get(f"/api/v1/payments/{order['id']}").json()["status"] == "pending"
    pay_at_cashier_quietly(app, order)
    payment = world["family"].get(f"/api/v1/payments/{order['id']}").json()
    assert payment["status"] == "paid" and payment["bill_status"] == "paid"
    sent = wait_for(lambda: messages(app, f"payment_succeeded:{bill['id']}"))
    assert len(sent) == 1


def test_a_paid_bill_cannot_be_paid_again(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    assert world["family"].get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"
    response = world["family"].post(f"/api/v1/bills/{bill['id']}/pay", json={"channel": "sandbox"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_already_paid"


def test_asking_twice_reuses_the_open_order(world):
    bill = push_bill(world["his"], world["me"]["id"])
    first = start_payment(world["family"], bill["id"])
    second = start_payment(world["family"], bill["id"])
    assert second["out_trade_no"] == first["out_trade_no"]


def test_unknown_channel_is_a_422(world):
    bill = push_bill(world["his"], world["me"]["id"])
    response = world["family"].post(f"/api/v1/bills/{bill['id']}/pay", json={"channel": "alipay"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "payment_channel_unknown"


def test_unpaid_order_expires_is_closed_at_the_channel_and_the_bill_stays_payable(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    app.clock.advance(minutes=16)
    try:
        while app.call(lambda s: s.billing.expire_payments_once()):
            pass
    finally:
        app.clock.advance(minutes=-16)
    assert app.db.payments.find_one({"out_trade_no": order["out_trade_no"]})["status"] == "closed"
    assert app.db.sandbox_wxpay_orders.find_one(
        {"_id": order["out_trade_no"]})["trade_state"] == "CLOSED"
    assert app.call(lambda s: s.wechatpay_sandbox.pay(prepay_id(order))) is None
    again = start_payment(world["family"], bill["id"])
    assert again["out_trade_no"] != order["out_trade_no"]
    pay_at_cashier(app, again)
    wait_for(lambda: world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "paid")


def test_expiry_settles_an_order_that_was_paid_but_never_notified(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    app.clock.advance(minutes=16)
    try:
        while app.call(lambda s: s.billing.expire_payments_once()):
            pass
    finally:
        app.clock.advance(minutes=-16)
    assert app.db.bills.find_one({"_id": payment_bill_oid(bill)})["status"] == "paid"


def test_registration_fee_bill_hold_expires_and_listeners_hear_it_once(world, app):
    async def create(services):
        patient = await services.identity.get_patient(world["me"]["id"])
        return await services.billing.create_bill(
            source="registration", source_ref="appt-0001", patient=patient, title="挂号费",
            items=[{"name": "专家门诊诊查费", "category": "挂号", "quantity": "1",
                    "unit_price_fen": 5000, "amount_fen": 5000}],
            expires_at=services.clock.now() + timedelta(minutes=10))
    bill, created = app.call(create)
    assert created and bill.payable_fen == 5000 and bill.source == "registration"
    again, created_again = app.call(create)
    assert not created_again and again.id == bill.id
    app.clock.advance(minutes=11)
    try:
        while app.call(lambda s: s.billing.expire_bills_once()):
            pass
        app.call(lambda s: s.billing.expire_bills_once())
    finally:
        app.clock.advance(minutes=-11)
    assert world["expired"].count(bill.id) == 1
    response = world["family"].post(f"/api/v1/bills/{bill.id}/pay", json={"channel": "sandbox"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_not_payable"
