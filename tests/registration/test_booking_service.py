"""Booking rules and capacity at the service layer (the app's own loop, real database)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from bson import ObjectId

from services.errors import DomainError
from tests.harness import START_DAY
from tests.registration.helpers import Family, add_schedule, local, new_patient

DAY = START_DAY + timedelta(days=2)     # two days after the harness's start (a working day, 09:00)
# The release day of the not-yet-released schedule below is an open day whatever its weekday
# (release moving off closed days is tests/calendar's business).
APP_OVERRIDES = {"calendar.open_days": [(START_DAY + timedelta(days=12)).isoformat()]}


def book(app, patient, slot_id):
    return app.call(lambda s: s.registration.book_for_patient(patient, slot_id))


def stored_slot(app, slot_id: str) -> dict:
    """The raw slot as stored inside its schedule document."""
    schedule_id, seq = slot_id.rsplit("-", 1)
    schedule = app.db.schedules.find_one({"_id": ObjectId(schedule_id)})
    return next(s for s in schedule["slots"] if s["seq"] == int(seq))


def error_of(app, fn) -> DomainError:
    with pytest.raises(DomainError) as caught:
        app.call(fn)
    return caught.value


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START_DAY, 9))


def test_concurrent_bookings_never_exceed_capacity(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, capacity=5, slots=1)
    slot_id = schedule["slots"][0]["id"]
    patients = [new_patient(app) for _ in range(40)]

    async def storm(s):
        async def one(p):
            try:
                return await s.registration.book_for_patient(p, slot_id)
            except DomainError as error:
                return error.code
        return await asyncio.gather(*(one(p) for p in patients))

    results = app.call(storm)
    booked = [r for r in results if not isinstance(r, str)]
    assert len(booked) == 5
    assert {r for r in results if isinstance(r, str)} == {"slot_full"}
    slot = stored_slot(app, slot_id)
    assert slot["remaining"] == 0
    assert app.db.appointments.count_documents({"slot_id": slot_id, "active": True}) == 5
    assert len({b.ticket_no for b in booked}) == 5


def test_schedule_is_not_bookable_before_its_release(seeded_app):
    app = seeded_app
    day = START_DAY + timedelta(days=19)
    release_day = day - timedelta(days=7)    # the default rule: seven days ahead, at 07:00
    schedule = add_schedule(app, day=day)
    assert schedule["released"] is False
    early = new_patient(app)
    error = error_of(app, lambda s: s.registration.book_for_patient(
        early, schedule["slots"][0]["id"]))
    assert error.code == "not_released" and f"{release_day} 07:00" in error.message
    app.clock.set(local(release_day, 7, 0))
    assert book(app, new_patient(app), schedule["slots"][0]["id"]).status == "booked"


def test_same_patient_cannot_book_the_same_schedule_twice(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, slots=2)
    p = new_patient(app)
    book(app, p, schedule["slots"][0]["id"])
    error = error_of(app, lambda s: s.registration.book_for_patient(p, schedule["slots"][1]["id"]))
    assert error.code == "duplicate_booking"
    remaining = [s["remaining"] for s in app.call(
        lambda s: s.registration.get_schedule(schedule["id"])).model_dump()["slots"]]
    assert remaining == [4, 5]


def test_patient_daily_limit_is_enforced(seeded_app):
    app = seeded_app
    p = new_patient(app)
    for code in ("D003", "D005"):
        book(app, p, add_schedule(app, day=DAY, doctor_code=code)["slots"][0]["id"])
    third = add_schedule(app, day=DAY, doctor_code="D007")
    error = error_of(app, lambda s: s.registration.book_for_patient(p, third["slots"][0]["id"]))
    assert error.code == "patient_daily_limit"
    assert stored_slot(app, third["slots"][0]["id"])["remaining"] == 5


def test_account_daily_limit_counts_the_whole_family(seeded_app):
    app = seeded_app
    home = Family(app)
    family = [home.member(name=n) for n in ("甲一", "乙二", "丙三", "丁四")]
    day = DAY + timedelta(days=1)
    codes = iter(["D002", "D004", "D006", "D008", "D010", "D012", "D014"])
    for member in family[:3]:
        for _ in range(2):
            book(app, member, add_schedule(app, day=day, doctor_code=next(codes))["slots"][0]["id"])
    extra = add_schedule(app, day=day, doctor_code=next(codes))
    error = error_of(app, lambda s: s.registration.book_for_patient(family[3], extra["slots"][0]["id"]))
    assert error.code == "account_daily_limit"


def test_paediatrics_takes_children_only_and_gynaecology_women_only(seeded_app):
    app = seeded_app
    ped = add_schedule(app, day=DAY, doctor_code=_doctor_of(app, "WC-PED"))
    gyn = add_schedule(app, day=DAY, doctor_code=_doctor_of(app, "WC-GYN"))
    adult = new_patient(app, birth=date(1990, 1, 1), sex="female")
    child = new_patient(app, birth=date(2015, 1, 1), sex="male")
    assert error_of(app, lambda s: s.registration.book_for_patient(
        adult, ped["slots"][0]["id"])).code == "department_age_limit"
    assert book(app, child, ped["slots"][0]["id"]).status == "booked"
    error = error_of(app, lambda s: s.registration.book_for_patient(child, gyn["slots"][0]["id"]))
    assert error.code == "department_sex_limit" and "女性" in error.message
    assert book(app, adult, gyn["slots"][0]["id"]).status == "booked"


def test_unverified_patient_must_complete_real_name_first(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY)
    unverified = new_patient(app, verified=False)
    error = error_of(app, lambda s: s.registration.book_for_patient(
        unverified, schedule["slots"][0]["id"]))
    assert error.code == "real_name_required"


def _doctor_of(app, department_code: str) -> str:
    dept = app.db.departments.find_one({"code": department_code})
    return app.db.doctors.find_one({"department_id": dept["_id"]})["code"]
