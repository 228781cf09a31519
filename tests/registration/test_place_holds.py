"""A booking the database fails under (the place taken, the appointment not yet written)
loses no place and never returns one twice: the hold recorded with the place is settled by
the repair job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId

from services.errors import Conflict
from tests.harness import START_DAY
from tests.registration.helpers import add_schedule, local, new_patient

DAY = START_DAY + timedelta(days=2)
NOW = local(START_DAY, 9)


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(NOW)


def slot_state(app, schedule_id: str) -> tuple[int, list]:
    doc = app.db.schedules.find_one({"_id": ObjectId(schedule_id)})
    return doc["slots"][0]["remaining"], doc.get("holds", [])


def repair(app) -> int:
    return app.call(lambda s: s.registration.repair_holds())


def test_a_place_taken_by_a_booking_that_died_comes_back_once(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, capacity=3, slots=1)
    sid = ObjectId(schedule["id"])
    hold = ObjectId()
    # the request took the place, then its process (or the database) died
    assert app.call(lambda s: s.registration.take_place(sid, 1, hold=hold)) is not None
    remaining, holds = slot_state(app, schedule["id"])
    assert remaining == 2 and [h["id"] for h in holds] == [hold]

    assert repair(app) == 0                       # too recent: the booking may still finish
    assert slot_state(app, schedule["id"])[0] == 2
    app.clock.set(NOW + timedelta(minutes=3))
    assert repair(app) == 1
    assert slot_state(app, schedule["id"]) == (3, [])
    assert repair(app) == 0                       # never twice
    assert slot_state(app, schedule["id"]) == (3, [])


def test_a_written_booking_keeps_its_place_when_only_the_hold_was_left(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, capacity=3, slots=1)
    patient = new_patient(app)
    booked = app.call(lambda s: s.registration.book_for_patient(patient, schedule["slots"][0]["id"]))
    assert slot_state(app, schedule["id"]) == (2, [])      # a normal booking leaves no hold
    # the process died after writing the appointment, before dropping the hold
    app.db.schedules.update_one({"_id": ObjectId(schedule["id"])}, {"$push": {"holds": {
        "id": ObjectId(booked.id), "seq": 1, "at": NOW}}})
    app.clock.set(NOW + timedelta(minutes=3))
    assert repair(app) == 1
    assert slot_state(app, schedule["id"]) == (2, [])
    assert app.db.appointments.find_one({"_id": ObjectId(booked.id)})["active"] is True


def test_a_stuck_booking_whose_place_was_given_back_takes_another_or_is_undone(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, capacity=1, slots=1)
    sid = ObjectId(schedule["id"])
    stuck, other = new_patient(app, name="慢请求"), new_patient(app, name="后来者")
    reg = lambda s: s.registration                                          # noqa: E731
    doc_of = app.db.schedules.find_one

    hold = ObjectId()
    taken = app.call(lambda s: reg(s).take_place(sid, 1, hold=hold))
    app.clock.set(NOW + timedelta(minutes=3))
    assert repair(app) == 1                                   # it looked dead: place returned
    app.call(lambda s: reg(s).book_for_patient(other, schedule["slots"][0]["id"]))
    # ...and then the stuck request wrote its appointment after all
    doc = app.call(lambda s: reg(s).do_book(stuck, doc_of({"_id": sid}), taken, NOW, None,
                                            appointment_id=hold))
    assert app.call(lambda s: reg(s).drop_hold(sid, hold)) is False
    with pytest.raises(Conflict):
        app.call(lambda s: reg(s)._take_again(doc, doc_of({"_id": sid})))
    undone = app.db.appointments.find_one({"_id": hold})
    assert undone["active"] is False and undone["cancel_reason"] == "place_lost"
    assert slot_state(app, schedule["id"]) == (0, [])        # the one place is the other's
    assert app.db.appointments.count_documents({"schedule_id": sid, "active": True}) == 1


def test_the_daily_limit_a_dead_booking_counted_is_given_back_with_its_place(seeded_app):
    """A booking died after counting the patient's daily bookings: after the repair the
    patient can still book their full daily allowance (2) that day."""
    app = seeded_app
    first = add_schedule(app, day=DAY, doctor_code="D001", capacity=2, slots=1, start="14:00",
                         period="afternoon")
    second = add_schedule(app, day=DAY, doctor_code="D002", capacity=2, slots=1, start="14:00",
                          period="afternoon")
    patient = new_patient(app, name="孙限额")
    reg = lambda s: s.registration                                          # noqa: E731
    hold = ObjectId()
    holder = {"patient_id": patient.id, "account_id": patient.account_id}
    # what book_for_patient does up to the crash: the place, then both daily counters
    app.call(lambda s: reg(s).take_place(ObjectId(first["id"]), 1, hold=hold, holder=holder))
    for key in (f"p|{patient.id}|{DAY}", f"a|{patient.account_id}|{DAY}"):
        assert app.call(lambda s, key=key: reg(s)._take_quota(key, 2))
    app.clock.set(NOW + timedelta(minutes=3))
    assert repair(app) == 1
    assert app.db.booking_quotas.find_one({"_id": f"p|{patient.id}|{DAY}"})["active"] == 0
    for schedule in (first, second):
        booked = app.call(lambda s, schedule=schedule: reg(s).book_for_patient(
            patient, schedule["slots"][0]["id"]))
        assert booked.status == "booked"
