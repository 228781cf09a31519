"""医保 mobile payment through the real app over a real socket: the patient's API, WeChat's
signed notices racing each other, finance's refund and reconciliation; the 医保 sandbox is
mounted in the same app under /sandbox/medins (development)."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest
from bson import ObjectId

from services.clock import local
from tests.billing.helpers import push_bill, wait_for
from tests.support import add_patient, device_client, patient_client, staff_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="李十", phone="13911116666")
    return {"his": his, "family": family, "me": me,
            "finance": staff_client(app, "finance", "钱会计")}


def medins_pay(world, bill_id: str, auth: str = "AUTH-ok") -> httpx.Response:
    return world["family"].post(f"/api/v1/bills/{bill_id}/medins-pay", json={"pay_auth_no": auth})


def signed_notice(app, notice: dict) -> tuple[bytes, dict]:
    return app.services.wechatpay_sandbox.callback("MEDICAL_INSURANCE.SUCCESS", "mix_trade",
                                                   "医保支付成功", notice)


def test_patient_pays_by_insurance_and_cash_and_twenty_racing_notices_settle_once(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    started = medins_pay(world, bill["id"])
    assert started.status_code == 200, started.text
    order = started.json()
    assert order["mix_pay_type"] == "CASH_AND_INSURANCE" and order["cash_fen"] == 4980
    assert order["fund_fen"] + order["account_fen"] + order["cash_fen"] == 8300
    notice = app.call(app.services.medins_sandbox.pay(order["mix_trade_no"]))

    def deliver(_):
        body, headers = signed_notice(app, notice)
        return httpx.post(f"{app.url}/callbacks/wechatpay/med-ins", content=body,
                          headers=headers, timeout=30).status_code
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(deliver, range(20)))
    assert statuses == [204] * 20
    seen = world["family"].get(f"/api/v1/medins-orders/{order['id']}").json()
    assert seen["status"] == "paid"
    assert world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "paid"
    wait_for(lambda: app.db.receipts.find_one({"bill_id": ObjectId(bill["id"])}))
    assert app.db.receipts.count_documents({"bill_id": ObjectId(bill["id"])}) == 1
    assert app.db.medins_orders.count_documents({"bill_id": ObjectId(bill["id"]),
                                                 "status": "paid"}) == 1


def test_a_notice_with_a_bad_signature_is_refused(world, app):
    body, headers = signed_notice(app, {"out_trade_no": "MIX", "mix_trade_no": "MIX"})
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    response = httpx.post(f"{app.url}/callbacks/wechatpay/med-ins", content=body,
                          headers=headers, timeout=30)
    assert response.status_code == 401


def test_bad_input_is_a_clear_4xx_with_a_chinese_message(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    empty = world["family"].post(f"/api/v1/bills/{bill['id']}/medins-pay", json={"pay_auth_no": ""})
    assert empty.status_code == 400
    extra = world["family"].post(f"/api/v1/bills/{bill['id']}/medins-pay",
                                 json={"pay_auth_no": "A", "cash_fen": 1})
    assert extra.status_code == 400
    missing = world["family"].get("/api/v1/medins-orders/not-an-id")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "medins_order_not_found"
    other, _ = patient_client(app)
    assert medins_pay({"family": other}, bill["id"]).status_code == 404
    no_refund = world["family"].get(f"/api/v1/bills/{bill['id']}/medins-refund")
    assert no_refund.status_code == 404 and "退费" in no_refund.json()["error"]["message"]


def test_finance_refunds_a_mixed_bill_and_the_patient_sees_one_status(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = medins_pay(world, bill["id"]).json()
    app.call(app.services.medins_sandbox.pay(order["mix_trade_no"]))
    assert world["family"].get(f"/api/v1/medins-orders/{order['id']}").json()["status"] == "paid"
    asked = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/medins-refund",
                                  json={"reason": "检查取消"})
    assert asked.status_code == 201, asked.text
    assert asked.json()["insurance"]["status"] == "success"
    seen = wait_for(lambda: (lambda r: r if r["status"] == "success" else None)(
        world["family"].get(f"/api/v1/bills/{bill['id']}/medins-refund").json()))
    assert seen["cash"] == {"fen": 4980, "status": "success"} and seen["total_fen"] == 8300
    assert world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "refunded"
    again = world["finance"].post(f"/api/v1/admin/bills/{bill['id']}/medins-refund",
                                  json={"reason": "再退"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "refund_not_allowed"
    wait_for(lambda: app.db.sandbox_wxpay_refunds.count_documents(
        {"status": {"$ne": "SUCCESS"}}) == 0)   # a stable bill file (see the reconcile test)
    day = local(app.clock.now()).date().isoformat()
    report = world["finance"].post("/api/v1/admin/medins/reconciliations", json={"date": day})
    assert report.status_code == 200, report.text
    assert report.json()["cash_mismatch"] == [] and report.json()["insurance_mismatch"] == []
    assert report.json()["matched"] >= 3
    # the cash part's refund notice came back to the 医保 callback, not to the cash refunds'
    wait_for(lambda: app.db.sandbox_wxpay_refunds.find_one(
        {"_id": seen["refund_no"], "status": "SUCCESS"}))
    assert app.db.billing_flags.count_documents({"kind": {"$in": [
        "refund_callback_mismatch", "medins_refund_callback_unknown"]}}) == 0
