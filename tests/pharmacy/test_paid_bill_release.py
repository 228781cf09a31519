"""A TCM prescription that must be paid online waits in 待缴费 until its bill is paid
through the real billing path (HIS bill → WeChat Pay sandbox → settlement listener)."""

from __future__ import annotations

from tests.billing.helpers import pay_at_cashier_quietly, push_bill, start_payment, wait_for
from tests.pharmacy.helpers import rx_payload
from tests.support import add_patient, device_client, patient_client


def test_paying_the_bill_releases_the_prescription_to_the_pharmacy(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    member = add_patient(app, family, name="周中药", phone="13955556666")
    rx = his.post("/api/v1/his/prescriptions", json=rx_payload(
        payment_required=True, patient_id=member["id"], patient_name="周中药"))
    assert rx.status_code in (200, 201), rx.text
    rx_no = rx.json()["prescription"]["rx_no"] if "prescription" in rx.json() else rx.json()["rx_no"]
    before = app.db.prescriptions.find_one({"rx_no": rx_no})
    assert before["stage"] == "awaiting_payment"

    bill = push_bill(his, member["id"], prescription_no=rx_no)
    order = start_payment(family, bill["id"])
    pay_at_cashier_quietly(app, order)
    assert family.get(f"/api/v1/payments/{order['id']}").json()["status"] == "paid"

    released = wait_for(lambda: (doc := app.db.prescriptions.find_one({"rx_no": rx_no}))
                        and doc["stage"] == "received" and doc)
    assert released["stage"] == "received"
    # settling again (a duplicate callback's listeners) releases nothing twice
    assert app.db.prescription_releases.count_documents({"rx_no": rx_no}) <= 1
