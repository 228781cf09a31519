"""Schedules from the HIS and admins, number release per department, stop-clinic,
no-shows and the free revisit within three days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import START_DAY
from tests.registration.helpers import Family, local
from tests.support import device_client, staff_client

APP_OVERRIDES = {"registration.release_overrides": {"耳鼻咽喉科": {"days_ahead": 3, "at": "08:00"}},
                 # the release day checked below is an open day whatever its weekday or holiday
                 # (release moving off closed days is tests/calendar's business)
                 "calendar.open_days": [(START_DAY + timedelta(days=2)).isoformat()]}
START = START_DAY


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START, 9))


@pytest.fixture(scope="module")
def his(seeded_app):
    return device_client(seeded_app, "his", name="HIS")


def payload(his_id, day, doctor="D005", capacity=3, status="open", slots=(("09:00", "09:30"),)):
    return {"schedules": [{
        "his_id": his_id, "doctor_code": doctor, "date": day.isoformat(), "period": "morning",
        "type": "expert", "fee_fen": 3000, "status": status,
        "slots": [{"start": a, "end": b, "capacity": capacity} for a, b in slots]}]}


def book(app, family, patient, schedule_id, index=0):
    slot = app.http.get(f"/api/v1/schedules/{schedule_id}").json()["slots"][index]
    return family.client.post("/api/v1/appointments",
                              json={"patient_id": patient.id, "slot_id": slot["id"]})


def test_his_push_is_idempotent_and_never_shrinks_below_bookings(seeded_app, his):
    app = seeded_app
    day = START + timedelta(days=2)
    first = his.post("/api/v1/his/schedules", json=payload("HIS-IDEM-1", day)).json()
    again = his.post("/api/v1/his/schedules", json=payload("HIS-IDEM-1", day)).json()
    assert (first["created"], again["created"], again["updated"]) == (1, 0, 0)
    assert first["ids"] == again["ids"]
    sid = first["ids"]["HIS-IDEM-1"]
    family = Family(app)
    for name in ("一号", "二号"):
        assert book(app, family, family.member(name=name), sid).status_code == 201
    shrink = his.post("/api/v1/his/schedules", json=payload("HIS-IDEM-1", day, capacity=1))
    assert shrink.status_code == 409 and shrink.json()["error"]["code"] == "capacity_below_booked"
    grow = his.post("/api/v1/his/schedules", json=payload("HIS-IDEM-1", day, capacity=5))
    assert grow.status_code == 200
    assert app.http.get(f"/api/v1/schedules/{sid}").json()["slots"][0]["remaining"] == 3
    too_long = payload("HIS-BAD-1", day, slots=(("09:00", "09:45"),))
    bad = his.post("/api/v1/his/schedules", json=too_long)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_slot"
    unknown = his.post("/api/v1/his/schedules", json=payload("HIS-BAD-2", day, doctor="NOPE"))
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_doctor"
    assert app.http.post("/api/v1/his/schedules", json=payload("X", day)).status_code == 401


def test_release_follows_the_department_rule(seeded_app, his):
    app = seeded_app
    day = START + timedelta(days=5)
    ent = app.db.doctors.find_one({"department_id": app.db.departments.find_one(
        {"name": "耳鼻咽喉科"})["_id"]})["code"]
    ent_sid = his.post("/api/v1/his/schedules",
                       json=payload("HIS-ENT-1", day, doctor=ent)).json()["ids"]["HIS-ENT-1"]
    other_sid = his.post("/api/v1/his/schedules",
                         json=payload("HIS-RESP-1", day)).json()["ids"]["HIS-RESP-1"]
    ent_schedule = app.http.get(f"/api/v1/schedules/{ent_sid}").json()
    assert ent_schedule["released"] is False and ent_schedule["release_at"].startswith(
        f"{START + timedelta(days=2)}T00:00")  # 08:00 Asia/Shanghai, three days ahead
    assert app.http.get(f"/api/v1/schedules/{other_sid}").json()["released"] is True
    family = Family(app)
    patient = family.member()
    refused = book(app, family, patient, ent_sid)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_released"
    assert f"{START + timedelta(days=2)} 08:00" in refused.json()["error"]["message"]
    app.clock.set(local(START + timedelta(days=2), 8, 0))
    assert book(app, family, patient, ent_sid).status_code == 201


def test_stop_clinic_cancels_every_booking_and_tells_each_patient(seeded_app, his):
    app = seeded_app
    day = START + timedelta(days=3)
    sid = his.post("/api/v1/his/schedules", json=payload("HIS-STOP-1", day, doctor="D009")
                   ).json()["ids"]["HIS-STOP-1"]
    families = [Family(app) for _ in range(2)]
    appointments = [book(app, f, f.member(), sid).json() for f in families]
    admin = staff_client(app, "admin")
    listed = admin.get("/api/v1/admin/schedules", params={
        "department_id": app.http.get(f"/api/v1/schedules/{sid}").json()["department_id"],
        "date": day.isoformat()}).json()
    assert next(s for s in listed if s["id"] == sid)["booked"] == 2
    stopped = admin.post(f"/api/v1/admin/schedules/{sid}/stop", json={"reason": "医生外出会诊"})
    assert stopped.status_code == 200 and stopped.json()["cancelled"] == 2
    for family, appt in zip(families, appointments):
        mine = family.client.get(f"/api/v1/appointments/{appt['id']}").json()
        assert mine["status"] == "stopped" and mine["status_name"] == "停诊取消"
        assert app.db.notify_messages.find_one({"dedup_key": f"stop_clinic:{appt['id']}"})
    late = Family(app)
    refused = book(app, late, late.member(), sid)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "clinic_stopped"
    again = his.post("/api/v1/his/schedules", json=payload("HIS-STOP-1", day, doctor="D009",
                                                           status="stopped"))
    assert again.status_code == 200 and again.json()["stopped"] == 0
    nurse = staff_client(app, "nurse")
    assert nurse.post(f"/api/v1/admin/schedules/{sid}/stop", json={}).status_code == 403


def test_three_no_shows_in_ninety_days_block_booking_with_a_reason(seeded_app, his):
    app = seeded_app
    family = Family(app)
    patient = family.member(name="爽约者")
    for i in range(3):
        day = START + timedelta(days=1 + i)
        app.clock.set(local(START, 9))
        sid = his.post("/api/v1/his/schedules", json=payload(f"HIS-NS-{i}", day, doctor="D011")
                       ).json()["ids"][f"HIS-NS-{i}"]
        assert book(app, family, patient, sid).status_code == 201
    app.clock.set(local(START + timedelta(days=4), 9))
    assert app.call(lambda s: s.registration.mark_no_shows()) >= 3
    statuses = {a["status"] for a in family.client.get("/api/v1/appointments").json()}
    assert statuses == {"no_show"}
    sid = his.post("/api/v1/his/schedules", json=payload("HIS-NS-X", START + timedelta(days=6),
                                                         doctor="D011")).json()["ids"]["HIS-NS-X"]
    blocked = book(app, family, patient, sid)
    assert blocked.status_code == 422 and blocked.json()["error"]["code"] == "booking_blocked"
    until = START + timedelta(days=4 + 90)  # marked on day 4, blocked for 90 days
    assert "爽约" in blocked.json()["error"]["message"]
    assert f"{until:%Y年%m月%d日}前" in blocked.json()["error"]["message"]
    sibling = family.member(name="家属")
    assert book(app, family, sibling, sid).status_code == 201


def test_revisit_with_the_same_doctor_within_three_days_is_free(seeded_app, his):
    app = seeded_app
    today = START
    app.clock.set(local(today, 8))
    sid = his.post("/api/v1/his/schedules", json={"schedules": [{
        "his_id": "HIS-RV-1", "doctor_code": "D013", "date": today.isoformat(),
        "period": "morning", "fee_fen": 3000,
        "slots": [{"start": "09:00", "end": "09:30", "capacity": 3}]}]}).json()["ids"]["HIS-RV-1"]
    family = Family(app)
    patient = family.member(name="复诊者")
    first = book(app, family, patient, sid).json()
    assert first["fee_fen"] == 3000 and first["fee_status"] == "unpaid" and first["bill_id"]
    nurse = staff_client(app, "doctor")
    app.clock.set(local(today, 8, 45))
    code = app.call(lambda s: s.registration.clinic_code_out(first["clinic_id"])).code
    assert family.client.post(f"/api/v1/appointments/{first['id']}/check-in",
                              json={"clinic_code": code}).status_code == 200
    nurse.post(f"/api/v1/station/schedules/{sid}/call-next")
    nurse.post(f"/api/v1/station/schedules/{sid}/complete")
    assert family.client.get(f"/api/v1/appointments/{first['id']}").json()["status"] == "completed"
    later = his.post("/api/v1/his/schedules", json=payload("HIS-RV-2", today + timedelta(days=3),
                                                           doctor="D013")).json()["ids"]["HIS-RV-2"]
    revisit = book(app, family, patient, later).json()
    assert revisit["fee_fen"] == 0 and revisit["fee_status"] == "free_revisit"
    assert revisit["revisit_of"] == first["id"]
    too_late = his.post("/api/v1/his/schedules", json=payload(
        "HIS-RV-3", today + timedelta(days=5), doctor="D013")).json()["ids"]["HIS-RV-3"]
    other = Family(app)
    assert book(app, other, other.member(), too_late).json()["fee_fen"] == 3000
    assert book(app, family, patient, too_late).json()["fee_fen"] == 3000


def test_places_added_by_the_his_go_to_the_waitlist_first(seeded_app, his):
    app = seeded_app
    day = START + timedelta(days=4)
    sid = his.post("/api/v1/his/schedules", json=payload("HIS-GROW-1", day, doctor="D015",
                                                         capacity=1)).json()["ids"]["HIS-GROW-1"]
    holder, waiting = Family(app), Family(app)
    assert book(app, holder, holder.member(), sid).status_code == 201
    member = waiting.member(name="候补甲")
    joined = waiting.client.post("/api/v1/waitlist", json={"patient_id": member.id, "schedule_id": sid})
    assert joined.status_code == 201
    grown = his.post("/api/v1/his/schedules", json=payload("HIS-GROW-1", day, doctor="D015",
                                                           capacity=3))
    assert grown.status_code == 200
    mine = waiting.client.get("/api/v1/appointments").json()
    assert [a["status"] for a in mine] == ["booked"]
    assert app.http.get(f"/api/v1/schedules/{sid}").json()["slots"][0]["remaining"] == 1
