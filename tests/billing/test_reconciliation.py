"""Daily reconciliation: the channel's trade bill against our payments and refunds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.clock import local_date
from tests.billing.helpers import (
    pay_at_cashier_quietly,
    push_bill,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client, staff_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="周八")
    return {"his": his, "family": family, "me": me, "finance": staff_client(app, "finance")}


def paid_order(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier_quietly(app, order)
    assert world["family"].get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"
    return bill, order


def test_reconciliation_reports_matches_gaps_and_amount_differences(world, app):
    today = local_date(app.clock.now()).isoformat()
    (_, matched), (_, lost), (_, changed) = (paid_order(world, app) for _ in range(3))
    refunded_bill, refunded = paid_order(world, app)
    response = world["finance"].post(f"/api/v1/admin/bills/{refunded_bill['id']}/refunds",
                                     json={"amount_fen": 1000, "reason": "部分退费"})
    assert response.status_code == 201
    wait_for(lambda: app.db.refunds.find_one({"out_trade_no": refunded["out_trade_no"],
                                              "status": "success"}))
    # the channel's side disagrees on three lines
    app.db.sandbox_wxpay_orders.delete_one({"_id": lost["out_trade_no"]})
    app.db.sandbox_wxpay_orders.update_one({"_id": changed["out_trade_no"]}, {"$set": {"total": 4200}})
    app.db.sandbox_wxpay_orders.insert_one({
        "_id": "PHFOREIGN000000000001", "mchid": "x", "appid": "x", "description": "未知订单",
        "total": 999, "openid": "o", "notify_url": "", "attach": "", "trade_state": "SUCCESS",
        "prepay_id": "wxforeign", "created_at": app.clock.now(), "success_time": app.clock.now(),
        "transaction_id": "4200000000000000000000001"})

    report = world["finance"].post("/api/v1/admin/reconciliations", json={"date": today})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["status"] == "done" and body["channel"] == "sandbox"
    missing_there = {line["ref"] for line in body["missing_at_channel"]}
    missing_here = {line["ref"] for line in body["missing_locally"]}
    differing = {line["ref"]: (line["our_fen"], line["channel_fen"]) for line in body["amount_mismatch"]}
    assert lost["out_trade_no"] in missing_there
    assert "PHFOREIGN000000000001" in missing_here
    assert differing[changed["out_trade_no"]] == (4300, 4200)
    assert matched["out_trade_no"] not in missing_there | missing_here | set(differing)
    assert body["matched"] >= 3   # the matched order, the refunded order and its refund
    listed = world["finance"].get("/api/v1/admin/reconciliations").json()
    assert listed[0]["date"] == today


def test_daily_job_reconciles_yesterday_once_after_ten(world, app):
    start = app.clock.now()
    app.clock.advance(days=2)                             # 09:00 Shanghai two days later
    try:
        yesterday = (local_date(app.clock.now()) - timedelta(days=1)).isoformat()
        assert app.call(lambda s: s.billing.reconcile_daily_once()) == 0
        assert app.db.reconciliations.find_one({"_id": f"sandbox:{yesterday}"}) is None
        app.clock.advance(hours=2)                        # 11:00 Shanghai
        app.call(lambda s: s.billing.reconcile_daily_once())
        first = app.db.reconciliations.find_one({"_id": f"sandbox:{yesterday}"})
        assert first["status"] == "done"
        app.call(lambda s: s.billing.reconcile_daily_once())
        assert app.db.reconciliations.find_one({"_id": f"sandbox:{yesterday}"})["ran_at"] == first["ran_at"]
    finally:
        app.clock.set(start)


def test_only_finance_and_admin_see_reports(app):
    assert staff_client(app, "admin").get("/api/v1/admin/reconciliations").status_code == 200
    assert staff_client(app, "doctor").get("/api/v1/admin/reconciliations").status_code == 403


def test_reconciliation_page_exists(app):
    page = app.http.get("/admin/billing/reconciliation")
    assert page.status_code == 200 and "每日对账" in page.text


@pytest.mark.browser
def test_finance_signs_in_on_the_page_and_sees_the_report(app, world, phone):
    today = local_date(app.clock.now()).isoformat()
    world["finance"].post("/api/v1/admin/reconciliations", json={"date": today})
    app.call(lambda s: s.staff.create_staff("qianhuiji", "钱会计", ["finance"], "Reconcile-2026!"))
    phone.goto(f"{app.url}/admin/billing/reconciliation")
    phone.fill("#username", "qianhuiji")
    phone.fill("#password", "Reconcile-2026!")
    phone.get_by_role("button", name="登录").click()
    card = phone.locator(f".report[data-date='{today}']")
    card.wait_for()
    assert "一致" in card.inner_text() and "渠道缺失" in card.inner_text()
