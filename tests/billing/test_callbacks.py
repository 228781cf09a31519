"""WeChat Pay notifications: only genuine, fresh, first-time callbacks change anything, and
any number of them (with polls racing) settles a bill exactly once."""

from __future__ import annotations

import base64
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bson import ObjectId
from Crypto.PublicKey import RSA

from services.payment import crypto
from tests.billing.helpers import (
    dumps,
    messages,
    pay_at_cashier_quietly,
    post_callback,
    push_bill,
    signed_callback,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="赵六", phone="13922223333")
    calls: list[str] = []

    async def listener(bill):
        calls.append(bill.id)

    app.services.billing.on_settled("his", listener)
    return {"his": his, "family": family, "me": me, "calls": calls}


def paid_at_channel(world, app):
    """A bill whose payer has paid at the channel; the notification is ours to send."""
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    return bill, order, pay_at_cashier_quietly(app, order)


def state(app, bill, order):
    b = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    p = app.db.payments.find_one({"_id": ObjectId(order["id"])})
    return b["status"], p["status"], app.db.receipts.count_documents({"bill_id": b["_id"]})


def test_genuine_callback_settles(world, app):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    assert post_callback(app, body, headers).status_code == 204
    assert state(app, bill, order)[:2] == ("paid", "paid")


def test_forged_signature_is_401_and_nothing_changes(world, app):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    headers["Wechatpay-Signature"] = base64.b64encode(secrets.token_bytes(256)).decode()
    response = post_callback(app, body, headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "callback_rejected"
    assert state(app, bill, order) == ("unpaid", "pending", 0)


def test_callback_re_signed_with_another_key_is_401(world, app):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    other = RSA.generate(2048)
    headers["Wechatpay-Signature"] = crypto.sign(other, crypto.response_message(
        headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body))
    assert post_callback(app, body, headers).status_code == 401
    assert state(app, bill, order) == ("unpaid", "pending", 0)


def test_tampered_body_and_signtest_probe_and_unknown_serial_are_401(world, app):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    assert post_callback(app, body.replace(b"encrypt-resource", b"encrypt-resourcf"),
                         headers).status_code == 401
    probe = {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]}
    assert post_callback(app, body, probe).status_code == 401
    stranger = {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000"}
    assert post_callback(app, body, stranger).status_code == 401
    assert state(app, bill, order) == ("unpaid", "pending", 0)


def test_stale_callback_is_401(world, app):
    bill, order, tx = paid_at_channel(world, app)
    app.clock.advance(minutes=-6)
    try:
        body, headers = signed_callback(app, tx)   # signed six minutes ago
    finally:
        app.clock.advance(minutes=6)
    response = post_callback(app, body, headers)
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "timestamp_stale"
    assert state(app, bill, order) == ("unpaid", "pending", 0)


def test_replayed_callback_is_401_and_changes_nothing(world, app):
    bill, _order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    assert post_callback(app, body, headers).status_code == 204
    wait_for(lambda: messages(app, f"payment_succeeded:{bill['id']}"))
    before = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    replay = post_callback(app, body, headers)
    assert replay.status_code == 401
    assert replay.json()["error"]["details"]["reason"] == "nonce_replayed"
    time.sleep(0.3)
    after = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    assert after["paid_at"] == before["paid_at"] and after["status"] == "paid"
    assert len(messages(app, f"payment_succeeded:{bill['id']}")) == 1


def test_resource_encrypted_with_another_apiv3_key_is_401(world, app):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, tx)
    envelope = json.loads(body)
    envelope["resource"]["ciphertext"] = crypto.aead_encrypt(
        secrets.token_bytes(32), envelope["resource"]["nonce"], "transaction", dumps(tx))
    body = dumps(envelope)
    sandbox = app.services.wechatpay_sandbox
    headers.update(sandbox.signed_headers(body))   # genuinely signed, wrongly encrypted
    assert post_callback(app, body, headers).status_code == 401
    assert state(app, bill, order) == ("unpaid", "pending", 0)


@pytest.mark.parametrize("field, value", [("amount", {"total": 1, "currency": "CNY"}),
                                          ("mchid", "1999999999")])
def test_amount_or_merchant_mismatch_is_never_settled_but_flagged_and_audited(world, app, field, value):
    bill, order, tx = paid_at_channel(world, app)
    body, headers = signed_callback(app, {**tx, field: value})
    assert post_callback(app, body, headers).status_code == 204   # received; finance decides
    assert state(app, bill, order) == ("unpaid", "pending", 0)
    flag = app.db.billing_flags.find_one({"_id": f"transaction_mismatch:{order['out_trade_no']}"})
    assert flag is not None and field in flag["details"]
    assert app.db.audit_log.find_one({"action": "billing.flag.transaction_mismatch",
                                      "details.out_trade_no": order["out_trade_no"]})
    finance = world["family"]  # a patient cannot see the flags
    assert finance.get("/api/v1/admin/billing/flags").status_code == 401


def test_twenty_duplicate_callbacks_racing_with_polls_settle_once(world, app):
    bill, order, tx = paid_at_channel(world, app)
    deliveries = [signed_callback(app, tx) for _ in range(20)]   # re-deliveries: fresh nonces
    token = world["family"].headers["Authorization"]

    def deliver(i):
        body, headers = deliveries[i]
        return post_callback(app, body, headers).status_code

    def poll(_):
        return httpx.get(f"{app.url}/api/v1/payments/{order['id']}",
                         headers={"Authorization": token}, timeout=30).json()["status"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(deliver, i) for i in range(20)] + \
                  [pool.submit(poll, i) for i in range(10)]
        results = [f.result() for f in futures]
    assert results[:20] == [204] * 20
    wait_for(lambda: messages(app, f"payment_succeeded:{bill['id']}")
             and app.db.bills.find_one({"_id": ObjectId(bill["id"])}).get("effects_pending") is False)
    time.sleep(0.3)
    assert state(app, bill, order) == ("paid", "paid", 1)
    assert len(messages(app, f"payment_succeeded:{bill['id']}")) == 1
    assert world["calls"].count(bill["id"]) == 1
    assert app.db.billing_flags.count_documents({"out_trade_no": order["out_trade_no"]}) == 0
    assert app.db.refunds.count_documents({"bill_id": ObjectId(bill["id"])}) == 0


def test_forged_refund_callback_is_401(app):
    body, headers = signed_callback(app, {"out_refund_no": "RFX"}, "REFUND.SUCCESS", "refund")
    headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][::-1]
    assert post_callback(app, body, headers, kind="refunds").status_code == 401
