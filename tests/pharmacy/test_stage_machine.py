"""The stage machine through the service: one step at a time, atomically, with its rules."""

from __future__ import annotations

import asyncio

import pytest

from services.errors import BusinessRuleViolation, Conflict
from services.pharmacy.models import AdvanceIn
from services.pharmacy.stages import path
from tests.pharmacy.helpers import PHARMACIST, PHARMACY_PATH, SELF_PATH, advance, receive, walk


def test_decoction_path_and_self_decoction_path_are_the_documented_tables():
    assert path("pharmacy", "pickup") == ["received", "reviewed", "dispensed", "checked", "soaking",
                                          "decocting", "packed", "ready_for_pickup", "completed"]
    assert path("pharmacy", "courier")[-2:] == ["shipped", "completed"]
    assert path("self", "pickup") == ["received", "reviewed", "dispensed", "checked",
                                      "ready_for_pickup", "completed"]


def test_new_prescription_starts_received_with_next_action_review(app):
    rx = receive(app)
    assert rx.stage == "received" and rx.stage_label == "已收方"
    assert rx.next_stage == "reviewed" and rx.next_action == "审方通过"
    assert rx.patient_name == "王*国"
    assert [h.handling for h in rx.herbs] == [None, "先煎", "后下", "烊化"]


def test_every_step_records_who_when_and_which_station(app):
    rx = receive(app)
    out = advance(app, rx.id, "reviewed", station="审方台-2")
    step = out.steps[-1]
    assert (step.stage, step.by, step.station) == ("reviewed", "药师 李*", "审方台-2")
    assert step.at == app.clock.now().replace(microsecond=step.at.microsecond)


def test_skipping_a_stage_is_invalid_transition(app):
    rx = receive(app)
    with pytest.raises(Conflict) as caught:
        advance(app, rx.id, "dispensed")
    assert caught.value.code == "invalid_transition"
    assert caught.value.details["next"] == "reviewed"
    assert app.db.prescriptions.find_one({"rx_no": rx.rx_no})["stage"] == "received"


def test_going_backwards_is_invalid_transition(app):
    rx = receive(app)
    walk(app, rx.id, ["reviewed", "dispensed"])
    with pytest.raises(Conflict) as caught:
        advance(app, rx.id, "reviewed")
    assert caught.value.code == "invalid_transition"


def test_self_decoction_skips_soaking_decocting_and_packing(app):
    rx = receive(app, mode="self")
    walk(app, rx.id, SELF_PATH)
    with pytest.raises(Conflict):
        advance(app, rx.id, "soaking")
    out = advance(app, rx.id, "ready_for_pickup")
    assert out.stage == "ready_for_pickup" and out.next_stage == "completed"


def test_decocting_before_thirty_minutes_of_soaking_is_refused(app):
    rx = receive(app)
    walk(app, rx.id, ["reviewed", "dispensed", "checked", "soaking"])
    app.clock.advance(minutes=12)
    with pytest.raises(BusinessRuleViolation) as caught:
        advance(app, rx.id, "decocting")
    assert caught.value.code == "soaking_too_short"
    assert caught.value.details["remaining_minutes"] == 18
    app.clock.advance(minutes=18)
    assert advance(app, rx.id, "decocting").stage == "decocting"


def test_a_pickup_bag_cannot_be_shipped_and_shipping_needs_tracking(app):
    pickup = receive(app)
    walk(app, pickup.id, PHARMACY_PATH)
    with pytest.raises(Conflict):
        advance(app, pickup.id, "shipped", courier="顺丰", tracking_no="SF1234567890")
    courier = receive(app, delivery="courier", address="浙江省杭州市西湖区文三路 1 号")
    walk(app, courier.id, PHARMACY_PATH)
    with pytest.raises(BusinessRuleViolation) as caught:
        advance(app, courier.id, "shipped")
    assert caught.value.code == "shipping_details_required"
    out = advance(app, courier.id, "shipped", courier="顺丰", tracking_no="SF1234567890")
    assert (out.stage, out.courier, out.tracking_no) == ("shipped", "顺丰", "SF1234567890")


def test_courier_address_is_encrypted_at_rest_and_masked_on_output(app):
    rx = receive(app, delivery="courier", address="浙江省杭州市西湖区文三路 1 号 2 单元")
    stored = app.db.prescriptions.find_one({"rx_no": rx.rx_no})
    assert "文三路" not in str(stored) and "王建国" not in str(stored) and "13800001111" not in str(stored)
    assert rx.address == "浙江省杭州市****"


def test_concurrent_advances_of_one_bag_exactly_one_succeeds(app):
    rx = receive(app)
    body = AdvanceIn(to_stage="reviewed", station="racer")

    async def race(services):
        return await asyncio.gather(*[services.pharmacy.advance(PHARMACIST, rx.id, body)
                                      for _ in range(8)], return_exceptions=True)

    results = app.call(race)
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(e, Conflict) and e.code == "invalid_transition" for e in losses)
    stored = app.db.prescriptions.find_one({"rx_no": rx.rx_no})
    assert [s["stage"] for s in stored["history"]] == ["received", "reviewed"]


def test_supervisor_undo_takes_back_the_last_step_and_keeps_it_on_record(app):
    rx = receive(app)
    walk(app, rx.id, ["reviewed", "dispensed"])
    out = app.call(lambda s: s.pharmacy.undo_last_step(PHARMACIST, rx.id, "调配有误，重新调配"))
    assert out.stage == "reviewed" and out.next_stage == "dispensed"
    stored = app.db.prescriptions.find_one({"rx_no": rx.rx_no})
    assert stored["undone"][0]["stage"] == "dispensed"
    assert stored["undone"][0]["reason"] == "调配有误，重新调配"
    again = advance(app, rx.id, "dispensed")
    assert [s.n for s in again.steps] == [1, 2, 5]


def test_repeating_the_same_prescription_is_a_no_op_and_a_changed_one_conflicts(app):
    from services.pharmacy.models import PrescriptionIn
    from tests.pharmacy.helpers import HIS, rx_payload

    payload = rx_payload()
    first = app.call(lambda s: s.pharmacy.receive_prescription(HIS, PrescriptionIn.model_validate(payload)))
    second = app.call(lambda s: s.pharmacy.receive_prescription(HIS, PrescriptionIn.model_validate(payload)))
    assert first.created and not second.created
    assert first.prescription.id == second.prescription.id
    changed = PrescriptionIn.model_validate({**payload, "doses": 3})
    with pytest.raises(Conflict) as caught:
        app.call(lambda s: s.pharmacy.receive_prescription(HIS, changed))
    assert caught.value.code == "prescription_conflict"
    assert app.db.prescriptions.count_documents({"rx_no": payload["rx_no"]}) == 1


def test_an_unpaid_prescription_waits_until_its_bill_is_paid_then_enters_once(app):
    rx = receive(app, payment_required=True)
    assert rx.stage == "awaiting_payment" and rx.stage_label == "待缴费"
    with pytest.raises(BusinessRuleViolation) as caught:
        advance(app, rx.id, "received")
    assert caught.value.code == "prescription_unpaid"
    with pytest.raises(BusinessRuleViolation):
        advance(app, rx.id, "reviewed")
    bill = {"id": "bill-1", "patient_id": None, "prescription_no": rx.rx_no}
    released = app.call(lambda s: s.pharmacy.release_paid_prescription(bill))
    again = app.call(lambda s: s.pharmacy.release_paid_prescription(bill))
    assert released.stage == "received" and again.stage == "received"
    stored = app.db.prescriptions.find_one({"rx_no": rx.rx_no})
    assert [s["stage"] for s in stored["history"]] == ["awaiting_payment", "received"]
    assert stored["paid_bill_id"] == "bill-1"
    assert advance(app, rx.id, "reviewed").stage == "reviewed"


def test_a_bill_paid_before_the_prescription_arrives_lets_it_start_received(app):
    from tests.pharmacy.helpers import rx_payload

    payload = rx_payload(payment_required=True)
    app.call(lambda s: s.pharmacy.release_paid_prescription(
        {"id": "bill-early", "prescription_no": payload["rx_no"]}))
    rx = receive(app, **payload)
    assert rx.stage == "received"
    assert app.call(lambda s: s.pharmacy.release_paid_prescription({"id": "bill-x"})) is None


def test_a_bill_of_another_patient_does_not_release_the_prescription(app):
    from tests.support import add_patient, patient_client

    client, _ = patient_client(app)
    member = add_patient(app, client, name="王建国")
    rx = receive(app, payment_required=True, patient_id=member["id"])
    out = app.call(lambda s: s.pharmacy.release_paid_prescription(
        {"id": "bill-b", "prescription_no": rx.rx_no, "patient_id": "patient-b"}))
    assert out.stage == "awaiting_payment"


def test_a_station_that_read_the_bag_before_an_advance_and_undo_cannot_advance_it(app):
    rx = receive(app)
    walk(app, rx.id, ["reviewed"])
    stale = app.call(lambda s: s.pharmacy.prescriptions.find_one({"rx_no": rx.rx_no}))
    advance(app, rx.id, "dispensed")
    app.call(lambda s: s.pharmacy.undo_last_step(PHARMACIST, rx.id, "称量有误"))
    body = AdvanceIn(to_stage="dispensed", station="stale")
    with pytest.raises(Conflict):
        app.call(lambda s: s.pharmacy.do_advance(PHARMACIST, stale, body))
    stored = app.db.prescriptions.find_one({"rx_no": rx.rx_no})
    assert [s["stage"] for s in stored["history"]] == ["received", "reviewed"]
