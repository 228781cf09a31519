"""A bill paid by 医保 + 自费: one refund timeline with both parts, and the day's two-sided
reconciliation (WeChat's trade bill for cash, the bureau's statement for insurance)."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId

from services.actors import Actor
from services.billing.medins_reconcile import MedInsReconciliation
from services.billing.medins_refunds import MedInsRefunds
from services.clock import local
from services.errors import Conflict
from tests.billing.helpers import push_bill, wait_for
from tests.billing.medins_world import build_medins, start_medins_sandbox
from tests.support import add_patient, device_client, patient_client

FINANCE = Actor(kind="staff", id="finance-1", roles=frozenset({"finance"}), label="钱会计")


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, account_id = patient_client(app)
    me = add_patient(app, family, name="孙九", phone="13911115555")
    sandbox, base = start_medins_sandbox(app)
    medins = build_medins(app, base)
    app.call(lambda s: medins.ensure_indexes())
    refunds = MedInsRefunds(medins)
    app.call(lambda s: refunds.ensure_indexes())
    return {"his": his, "account": account_id, "me": me, "sandbox": sandbox, "medins": medins,
            "refunds": refunds, "reconcile": MedInsReconciliation(medins)}


def paid_bill(app, world, outcome="success"):
    world["sandbox"].insurance_outcome = outcome
    bill = push_bill(world["his"], world["me"]["id"])
    order = app.call(lambda s: world["medins"].start(world["account"], bill["id"],
                                                     "AUTH" + bill["id"], "o_refund"))
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    app.call(lambda s: world["medins"].check(
        app.db.medins_orders.find_one({"_id": ObjectId(order["id"])})))
    return bill, order


def test_a_mixed_bill_refunds_both_parts_under_one_status(world, app):
    bill, order = paid_bill(app, world)
    refund = app.call(lambda s: world["refunds"].refund(bill["id"], "患者取消检查", FINANCE))
    assert refund["total_fen"] == 8300 and refund["insurance"] == {"fen": 3320,
                                                                   "status": "success"}
    assert refund["cash"]["fen"] == 4980 and refund["status"] == "processing"
    platform = world["sandbox"].orders[order["pay"]["payOrderId"]]
    assert [(r["refdType"], r["totlRefdAmt"]) for r in platform.refunds] == [("HI", "33.20")]
    seen = wait_for(lambda: (lambda r: r if r["status"] == "success" else None)(app.call(
        lambda s: world["refunds"].status_for_account(world["account"], bill["id"]))))
    assert seen["cash"]["status"] == "success" and seen["finished_at"] is not None
    done = app.db.bills.find_one({"_id": ObjectId(bill["id"])})
    assert done["status"] == "refunded" and done["refunded_fen"] == 4980
    with pytest.raises(Conflict) as again:
        app.call(lambda s: world["refunds"].refund(bill["id"], "再退一次", FINANCE))
    assert again.value.code == "refund_not_allowed"


def test_two_clerks_refunding_at_once_make_one_refund(world, app):
    bill, _ = paid_bill(app, world)

    async def both(services):
        return await asyncio.gather(
            *[world["refunds"].refund(bill["id"], "重复点击", FINANCE) for _ in range(2)],
            return_exceptions=True)
    results = app.call(both)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert app.db.medins_refunds.count_documents({"bill_id": ObjectId(bill["id"])}) == 1


def test_reconciliation_checks_cash_and_insurance_separately_and_flags_a_mismatch(world, app):
    _, good = paid_bill(app, world)
    _, tampered = paid_bill(app, world)
    _, reversed_order = paid_bill(app, world, outcome="fail")
    assert app.db.medins_orders.find_one({"_id": ObjectId(reversed_order["id"])})["status"] == \
        "reversed"
    # the bureau's statement disagrees about one order's pooled-fund amount
    world["sandbox"].statement_overrides[tampered["out_trade_no"]] = {"fundPay": "24.00"}
    # the sandbox renders refund states into its bill: let them settle so the file's SHA-1
    # stays the same between the bill request and its download
    wait_for(lambda: app.db.sandbox_wxpay_refunds.count_documents(
        {"status": {"$ne": "SUCCESS"}}) == 0)
    day = local(app.clock.now()).date().isoformat()
    report = app.call(lambda s: world["reconcile"].reconcile_day(day))
    assert report["cash_mismatch"] == []
    assert [(m["ref"], m["ours"]["fund_fen"], m["theirs"]["fund_fen"])
            for m in report["insurance_mismatch"]] == [(tampered["out_trade_no"], 2490, 2400)]
    assert app.db.billing_flags.find_one(
        {"_id": f"medins_insurance_mismatch:{tampered['out_trade_no']}"})
    assert good["out_trade_no"] not in str(report["insurance_mismatch"])
    # the cash reconciliation of the same trade bill leaves 医保 orders to this one
    cash_report = app.call(lambda s: s.billing.reconcile(local(app.clock.now()).date(), "sandbox"))
    assert not any(line.ref.startswith("MI") if hasattr(line, "ref") else
                   str(line.get("ref", "")).startswith("MI")
                   for line in cash_report.missing_locally)


def test_reconciling_an_impossible_date_is_a_clear_error(world, app):
    with pytest.raises(Exception) as bad:
        app.call(lambda s: world["reconcile"].reconcile_day("2026-02-30"))
    assert getattr(bad.value, "code", "") == "date_invalid"
