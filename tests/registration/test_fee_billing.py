"""The registration fee goes through billing: a booking gets a fee bill, paying it in the
WeChat Pay sandbox marks the appointment paid, cancelling refunds it in full, and
cancelling an unpaid booking withdraws its bill."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import START_DAY
from tests.billing.helpers import pay_at_cashier, start_payment, wait_for
from tests.registration.helpers import Family, local
from tests.registration.test_appointments_api import his_schedule, schedule
from tests.support import device_client

DAY = START_DAY + timedelta(days=3)


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START_DAY, 9))


@pytest.fixture(scope="module")
def his(seeded_app):
    return device_client(seeded_app, "his", name="HIS")


def book(app, family, patient, sid):
    slot = schedule(app, sid)["slots"][0]["id"]
    response = family.client.post("/api/v1/appointments", json={"patient_id": patient.id, "slot_id": slot})
    assert response.status_code == 201, response.text
    return response.json()


def test_paid_fee_is_marked_on_the_appointment_and_refunded_on_cancel(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-FEE-1", day=DAY, capacity=3, fee=1500)
    family = Family(app)
    patient = family.member(name="钱挂号")
    ticket = book(app, family, patient, sid)
    assert ticket["fee_status"] == "unpaid" and ticket["bill_id"]

    bill = family.client.get(f"/api/v1/bills/{ticket['bill_id']}").json()
    assert bill["total_fen"] == 1500 and bill["status"] == "unpaid"
    order = start_payment(family.client, ticket["bill_id"])
    pay_at_cashier(app, order)
    paid = wait_for(lambda: (a := family.client.get(f"/api/v1/appointments/{ticket['id']}").json())
                    ["fee_status"] == "paid" and a)
    assert paid["fee_status"] == "paid"

    assert family.client.post(f"/api/v1/appointments/{ticket['id']}/cancel").status_code == 200
    refunded = wait_for(lambda: (b := family.client.get(f"/api/v1/bills/{ticket['bill_id']}").json())
                        ["status"] == "refunded" and b)
    assert refunded["refunded_fen"] == 1500
    assert schedule(app, sid)["slots"][0]["remaining"] == 3


def test_cancelling_an_unpaid_booking_withdraws_its_bill(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-FEE-2", day=DAY, capacity=2, fee=1200)
    family = Family(app)
    patient = family.member(name="孙未付")
    ticket = book(app, family, patient, sid)
    assert family.client.post(f"/api/v1/appointments/{ticket['id']}/cancel").status_code == 200
    bill = family.client.get(f"/api/v1/bills/{ticket['bill_id']}").json()
    assert bill["status"] == "cancelled"
    paying = family.client.post(f"/api/v1/bills/{ticket['bill_id']}/pay", json={"channel": "sandbox"})
    assert paying.status_code >= 400
