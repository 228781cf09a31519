"""Fault tests: our process dies between the legs of a 医保 + 自费 payment. A restarted
process (a fresh service instance over the same database) finishes every order as either
completed or reversed, never half-paid. The "crash" cancels the service's coroutine in the
middle of a call to the sandbox, which is what a killed process leaves behind in the database."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId

from tests.billing.helpers import push_bill
from tests.billing.medins_world import build_medins, start_medins_sandbox
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, account_id = patient_client(app)
    me = add_patient(app, family, name="钱七", phone="13911114444")
    sandbox, base = start_medins_sandbox(app)
    app.call(lambda s: build_medins(app, base).ensure_indexes())
    return {"his": his, "account": account_id, "me": me, "sandbox": sandbox, "base": base}


def crash_during(app, make_coro, after: float = 0.3) -> None:
    async def run(services):
        task = asyncio.ensure_future(make_coro())
        await asyncio.sleep(after)
        assert not task.done(), "the call finished before the crash"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    app.call(run)


def restart_and_recover(app, world) -> dict:
    """A new process: a fresh service; the clock passes the insurance deadline; recovery runs."""
    medins = build_medins(app, world["base"])
    app.clock.advance(minutes=15, seconds=121)
    while app.call(lambda s: medins.recover_once()):
        pass
    return medins


def states(app, out_trade_no: str) -> tuple[dict, dict]:
    order = app.db.medins_orders.find_one({"out_trade_no": out_trade_no})
    return order, app.db.bills.find_one({"_id": order["bill_id"]})


def start(app, world, medins, bill):
    return medins.start(world["account"], bill["id"], "AUTH" + bill["id"], "o_crash")


def test_crash_after_both_legs_paid_but_before_we_settled_ends_completed(world, app):
    world["sandbox"].insurance_outcome = "success"
    medins = build_medins(app, world["base"])
    bill = push_bill(world["his"], world["me"]["id"])
    order = app.call(lambda s: start(app, world, medins, bill))
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    world["sandbox"].center_delay = 5.0          # our 6301 question hangs …
    try:
        crash_during(app, lambda: medins.check(
            app.db.medins_orders.find_one({"_id": ObjectId(order["id"])})))   # … and we die
    finally:
        world["sandbox"].center_delay = 0.0
    restart_and_recover(app, world)
    doc, paid = states(app, order["out_trade_no"])
    assert doc["status"] == "paid" and paid["status"] == "paid" and paid["paid_fen"] == 4980
    assert world["sandbox"].orders[doc["pay_ord_id"]].reversals == 0


def test_crash_while_the_insurance_leg_hangs_after_cash_ends_reversed(world, app):
    world["sandbox"].insurance_outcome = "hang"
    medins = build_medins(app, world["base"])
    bill = push_bill(world["his"], world["me"]["id"])
    order = app.call(lambda s: start(app, world, medins, bill))
    app.call(world["sandbox"].pay(order["mix_trade_no"]))     # cash taken, insurance pending
    world["sandbox"].center_delay = 5.0
    try:
        crash_during(app, lambda: medins.check(
            app.db.medins_orders.find_one({"_id": ObjectId(order["id"])})))
    finally:
        world["sandbox"].center_delay = 0.0
    restart_and_recover(app, world)
    doc, unpaid = states(app, order["out_trade_no"])
    assert doc["status"] == "reversed" and unpaid["status"] == "unpaid"
    assert world["sandbox"].orders[doc["pay_ord_id"]].status == 9          # 冲正 done
    refund = app.db.sandbox_wxpay_refunds.find_one({"out_trade_no": doc["out_trade_no"]})
    assert refund is not None and refund["refund"] == doc["cash_fen"]


def test_crash_after_the_fee_upload_before_the_wechat_order_is_reversed(world, app):
    world["sandbox"].insurance_outcome = "success"
    medins = build_medins(app, world["base"])
    bill = push_bill(world["his"], world["me"]["id"])
    world["sandbox"].mix_order_delay = 5.0
    try:
        crash_during(app, lambda: start(app, world, medins, bill))
    finally:
        world["sandbox"].mix_order_delay = 0.0
    doc = app.db.medins_orders.find_one({"bill_id": ObjectId(bill["id"])})
    assert doc["status"] == "uploaded"
    restart_and_recover(app, world)
    doc, unpaid = states(app, doc["out_trade_no"])
    assert doc["status"] == "reversed" and unpaid["status"] == "unpaid"
    assert world["sandbox"].orders[doc["pay_ord_id"]].reversals == 1
    assert app.db.sandbox_wxpay_refunds.find_one({"out_trade_no": doc["out_trade_no"]}) is None
