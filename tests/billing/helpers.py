"""Shared steps of the billing tests: a HIS that pushes bills, a patient who pays them,
and the sandbox channel acting as WeChat Pay (cashier taps, signed callbacks)."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import httpx

from tests.harness import AppUnderTest

_bill_numbers = itertools.count(1)


def bill_payload(patient_id: str, *, his_bill_id: str | None = None, **overrides: Any) -> dict:
    """A typical 诊间 bill: two drugs and a test, 统筹 pays part, 自费 the rest."""
    payload = {
        "his_bill_id": his_bill_id or f"HIS{secrets.token_hex(3)}{next(_bill_numbers):05d}",
        "patient_id": patient_id,
        "visit": {"visit_no": "MZ20261201001", "department": "呼吸内科", "doctor": "王建国"},
        "items": [
            {"name": "阿莫西林胶囊", "category": "西药", "quantity": "2", "unit": "盒",
             "unit_price_fen": 1580, "amount_fen": 3160, "spec": "0.25g×24粒"},
            {"name": "连花清瘟胶囊", "category": "中成药", "quantity": "1", "unit": "盒",
             "unit_price_fen": 2640, "amount_fen": 2640},
            {"name": "血常规", "category": "检验", "quantity": "1", "unit": "次",
             "unit_price_fen": 2500, "amount_fen": 2500},
        ],
        "total_fen": 8300,
        "insurance": {"pooled_fen": 3000, "personal_account_fen": 1000, "self_pay_fen": 4300},
    }
    payload.update(overrides)
    return payload


def push_bill(his: httpx.Client, patient_id: str, **overrides: Any) -> dict:
    response = his.post("/api/v1/his/bills", json=bill_payload(patient_id, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def start_payment(patient: httpx.Client, bill_id: str) -> dict:
    response = patient.post(f"/api/v1/bills/{bill_id}/pay", json={"channel": "sandbox"})
    assert response.status_code == 200, response.text
    return response.json()


def prepay_id(order: dict) -> str:
    return order["jsapi"]["package"].removeprefix("prepay_id=")


def pay_at_cashier_quietly(app: AppUnderTest, order: dict) -> dict:
    """The payer pays at the channel, but its notification is lost; returns the Transaction."""
    sandbox = app.services.wechatpay_sandbox

    async def pay(services):
        return sandbox.transaction(await sandbox.pay(prepay_id(order), send_callback=False))

    return app.call(pay)


def pay_at_cashier(app: AppUnderTest, order: dict) -> None:
    """The payer taps 支付 on the sandbox cashier (its signed callback then arrives)."""
    response = httpx.post(f"{app.url}/sandbox/wechatpay/cashier/{prepay_id(order)}/pay",
                          timeout=30.0)
    assert response.status_code == 200 and response.json()["paid"], response.text


def signed_callback(app: AppUnderTest, resource: dict, event_type: str = "TRANSACTION.SUCCESS",
                    original_type: str = "transaction") -> tuple[bytes, dict[str, str]]:
    """A notification exactly as WeChat Pay would send it (fresh nonce, signed, encrypted)."""
    return app.services.wechatpay_sandbox.callback(event_type, original_type, "支付成功", resource)


def post_callback(app: AppUnderTest, body: bytes, headers: dict[str, str],
                  kind: str = "transactions") -> httpx.Response:
    return httpx.post(f"{app.url}/callbacks/wechatpay/{kind}", content=body, headers=headers,
                      timeout=30.0)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def messages(app: AppUnderTest, dedup_prefix: str) -> list[dict]:
    """Outbox messages by dedup-key prefix, with their (encrypted at rest) params readable."""
    found = list(app.db.notify_messages.find({"dedup_key": {"$regex": f"^{dedup_prefix}"}}))
    for doc in found:
        doc["params"] = app.services.notify.message_params(doc)
    return found


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
