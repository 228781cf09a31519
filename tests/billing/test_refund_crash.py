"""A refund whose bill was already credited when the process died (before the refund's own
status was written) is finished by the channel's next word without counting the money twice."""

from __future__ import annotations

from tests.billing.helpers import messages, pay_at_cashier_quietly, push_bill, start_payment
from tests.support import add_patient, device_client, patient_client, staff_client

# the sandbox answers refunds only after an hour: they stay `processing` while we look
APP_OVERRIDES = {"wechatpay.sandbox_refund_delay_seconds": 3600}


def test_a_refund_interrupted_after_crediting_the_bill_is_counted_once(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="周八", phone="13933335555")
    finance = staff_client(app, "finance", "钱会计")
    bill = push_bill(his, me["id"])
    order = start_payment(family, bill["id"])
    pay_at_cashier_quietly(app, order)
    assert family.get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"
    asked = finance.post(f"/api/v1/admin/bills/{bill['id']}/refunds",
                         json={"amount_fen": 1300, "reason": "检验项目未做"})
    assert asked.status_code == 201 and asked.json()["status"] == "processing", asked.text
    refund = app.db.refunds.find_one({"out_refund_no": asked.json()["out_refund_no"]})

    # the process credited the bill, then died before marking the refund
    app.call(lambda s: s.billing._settle_on_bill(refund, "success"))
    seen = family.get(f"/api/v1/bills/{bill['id']}").json()
    assert seen["status"] == "partially_refunded" and seen["refunded_fen"] == 1300

    # the channel's callback (or the status check) arrives, twice
    for _ in range(2):
        app.call(lambda s: s.billing.apply_refund_status(refund["out_refund_no"], "SUCCESS"))
    latest = family.get(f"/api/v1/bills/{bill['id']}").json()
    assert latest["refunded_fen"] == 1300 and latest["status"] == "partially_refunded"
    assert app.db.refunds.find_one({"_id": refund["_id"]})["status"] == "success"
    assert len(messages(app, f"payment_refunded:{refund['out_refund_no']}")) == 1
