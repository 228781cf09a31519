"""Issue 22 finding k: a second, correctly signed SUCCESS callback naming a different
transaction_id for an order already paid is flagged for finance (possible double charge)."""

from __future__ import annotations

from tests.billing.helpers import (
    pay_at_cashier_quietly,
    post_callback,
    push_bill,
    signed_callback,
    start_payment,
)
from tests.support import add_patient, device_client, patient_client, staff_client


def test_a_second_transaction_for_a_paid_order_is_flagged_for_finance(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="孔七")
    bill = push_bill(his, me["id"])
    order = start_payment(family, bill["id"])
    tx = pay_at_cashier_quietly(app, order)
    body, headers = signed_callback(app, tx)
    assert post_callback(app, body, headers).status_code == 204
    again, again_headers = signed_callback(app, tx)                    # a retry: nothing to flag
    assert post_callback(app, again, again_headers).status_code == 204
    finance = staff_client(app, "finance")
    assert finance.get("/api/v1/admin/billing/flags").json() == []

    other = {**tx, "transaction_id": "4200009999" + tx["transaction_id"][-18:]}
    body, headers = signed_callback(app, other)
    assert post_callback(app, body, headers).status_code == 204      # accepted, not retried
    flags = finance.get("/api/v1/admin/billing/flags").json()
    assert [f["kind"] for f in flags] == ["second_transaction"]
    assert flags[0]["out_trade_no"] == order["out_trade_no"]
    paid = app.db.bills.find_one({"out_trade_no": order["out_trade_no"]})
    assert paid["transaction_id"] == tx["transaction_id"]              # the first one stands
