"""医保 mobile payment: one order paid by insurance (统筹 + 个人账户) and cash together,
against a local sandbox speaking both the 移动支付中心's and WeChat's wire formats."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId

from services.errors import BusinessRuleViolation, DependencyUnavailable
from services.payment.medins_center import MedInsRejected, fen_to_yuan, yuan_to_fen
from tests.billing.helpers import push_bill, wait_for
from tests.billing.medins_world import build_medins, start_medins_sandbox
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, account_id = patient_client(app)
    me = add_patient(app, family, name="赵六", phone="13911113333")
    sandbox, base = start_medins_sandbox(app)
    app.call(lambda s: build_medins(app, base).ensure_indexes())
    return {"his": his, "account": account_id, "me": me, "sandbox": sandbox, "base": base,
            "medins": build_medins(app, base, center_timeout=0.5)}


def new_order(app, world, outcome="success", **kwargs):
    world["sandbox"].insurance_outcome = outcome
    bill = push_bill(world["his"], world["me"]["id"])
    order = app.call(lambda s: world["medins"].start(world["account"], bill["id"],
                                                     "AUTH" + bill["id"], "o_medins_test", **kwargs))
    return bill, order


def order_doc(app, order):
    return app.db.medins_orders.find_one({"_id": ObjectId(order["id"])})


def bill_doc(app, bill):
    return app.db.bills.find_one({"_id": ObjectId(bill["id"])})


def test_amounts_are_fen_inside_and_yuan_strings_only_at_the_insurance_edge():
    assert fen_to_yuan(1) == "0.01" and fen_to_yuan(12345) == "123.45" and fen_to_yuan(0) == "0.00"
    assert yuan_to_fen("12.3") == 1230 and yuan_to_fen("0.07") == 7 and yuan_to_fen("83") == 8300
    for bad in ("1.005", "abc", "", "NaN", "1e400"):
        with pytest.raises(MedInsRejected):
            yuan_to_fen(bad)
    with pytest.raises(TypeError):
        fen_to_yuan(12.5)


def test_mixed_bill_is_paid_by_insurance_and_cash_in_one_order(world, app):
    bill, order = new_order(app, world)
    # the platform's split (6201) decides: 30% 统筹, 10% 个人账户, the rest cash
    assert order["mix_pay_type"] == "CASH_AND_INSURANCE" and order["status"] == "ordered"
    assert (order["total_fen"], order["fund_fen"], order["account_fen"], order["cash_fen"]) == \
        (8300, 2490, 830, 4980)
    assert order["pay"]["mixTradeNo"].startswith("MIX")
    platform = world["sandbox"].orders[order["pay"]["payOrderId"]]
    assert platform.med_org_ord == order["out_trade_no"] and platform.total_fen == 8300
    assert app.call(lambda s: world["medins"].get(world["account"], order["id"]))["status"] == \
        "ordered"
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    seen = app.call(lambda s: world["medins"].get(world["account"], order["id"]))
    assert seen["status"] == "paid"
    paid = bill_doc(app, bill)
    assert paid["status"] == "paid" and paid["channel"] == "medins" and paid["paid_fen"] == 4980
    assert paid["medins"]["fund_fen"] == 2490 and paid["medins"]["account_fen"] == 830
    wait_for(lambda: app.db.receipts.find_one({"bill_id": paid["_id"]}))
    # somebody else's account cannot read the order
    with pytest.raises(Exception) as hidden:
        app.call(lambda s: world["medins"].get(str(ObjectId()), order["id"]))
    assert getattr(hidden.value, "code", "") == "medins_order_not_found"


def test_twenty_racing_notices_settle_the_bill_exactly_once(world, app):
    bill, order = new_order(app, world)
    notice = app.call(world["sandbox"].pay(order["mix_trade_no"]))

    async def race(services):
        return await asyncio.gather(*[world["medins"].handle_notice(dict(notice))
                                      for _ in range(20)])
    results = app.call(race)
    assert results.count("settled") == 1, results
    assert set(results) <= {"settled", "already", "paid"}
    assert order_doc(app, order)["status"] == "paid"
    wait_for(lambda: app.db.receipts.find_one({"bill_id": ObjectId(bill["id"])}))
    assert app.db.receipts.count_documents({"bill_id": ObjectId(bill["id"])}) == 1
    assert app.db.billing_flags.count_documents({"bill_id": bill["id"]}) == 0


def test_a_forged_notice_for_an_unknown_order_settles_nothing_and_is_flagged(world, app):
    result = app.call(lambda s: world["medins"].handle_notice(
        {"out_trade_no": "MI_NO_SUCH", "mix_trade_no": "MIXFORGED", "mix_pay_status":
         "MIX_PAY_SUCCESS"}))
    assert result == "unknown"
    assert app.db.billing_flags.find_one({"_id": "unknown_medins_order:MI_NO_SUCH"})


def test_insurance_refused_after_the_cash_leg_reverses_and_refunds_the_cash(world, app):
    bill, order = new_order(app, world, outcome="fail")
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    assert app.call(lambda s: world["medins"].check(order_doc(app, order))) == "reversed"
    doc = order_doc(app, order)
    assert doc["status"] == "reversed" and doc["reversal_reason"] == "mix_pay_failed"
    assert world["sandbox"].orders[doc["pay_ord_id"]].reversals == 1
    refund = app.db.sandbox_wxpay_refunds.find_one({"out_trade_no": doc["out_trade_no"]})
    assert refund is not None and refund["refund"] == 4980
    assert bill_doc(app, bill)["status"] == "unpaid"    # the patient may pay again


def test_insurance_leg_that_never_answers_is_reversed_after_the_deadline(world, app):
    bill, order = new_order(app, world, outcome="hang")
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    assert app.call(lambda s: world["medins"].check(order_doc(app, order))) == "pending"
    app.clock.advance(minutes=15, seconds=121)
    assert app.call(lambda s: world["medins"].check(order_doc(app, order))) == "reversed"
    doc = order_doc(app, order)
    assert doc["reversal_reason"] == "insurance_timeout" and doc["reversed_6401"]
    assert world["sandbox"].orders[doc["pay_ord_id"]].status == 9
    assert app.db.sandbox_wxpay_refunds.find_one({"out_trade_no": doc["out_trade_no"]})
    assert bill_doc(app, bill)["status"] == "unpaid"


def test_insurance_platform_timeouts_end_reversed_once_it_answers_again(world, app):
    bill, order = new_order(app, world, outcome="hang")
    app.call(world["sandbox"].pay(order["mix_trade_no"]))
    world["sandbox"].center_delay = 1.0          # longer than the client's 0.5 s timeout
    try:
        with pytest.raises(DependencyUnavailable):
            app.call(lambda s: world["medins"].check(order_doc(app, order)))
        app.clock.advance(minutes=15, seconds=121)
        # past the deadline: the reversal starts, but 6401 times out too
        assert app.call(lambda s: world["medins"].check(order_doc(app, order))) == "reversing"
    finally:
        world["sandbox"].center_delay = 0.0
    assert order_doc(app, order)["status"] == "reversing"
    while app.call(lambda s: world["medins"].recover_once()):
        if order_doc(app, order)["status"] == "reversed":
            break
    doc = order_doc(app, order)
    assert doc["status"] == "reversed" and doc["cash_refund"]["status"] in ("PROCESSING", "SUCCESS")
    assert bill_doc(app, bill)["status"] == "unpaid"


def test_the_patient_must_authorise_insurance_before_paying(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    with pytest.raises(BusinessRuleViolation) as refused:
        app.call(lambda s: world["medins"].start(world["account"], bill["id"], "", "o_x"))
    assert refused.value.code == "pay_auth_required"
