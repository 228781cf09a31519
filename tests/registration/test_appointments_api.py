"""Booking over HTTP: schedules from the HIS, booking with a ticket and QR, cancel, waitlist."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import START_DAY
from tests.registration.helpers import Family, local
from tests.support import device_client

DAY = START_DAY + timedelta(days=2)


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START_DAY, 9))


@pytest.fixture(scope="module")
def his(seeded_app):
    return device_client(seeded_app, "his", name="HIS")


def his_schedule(his, his_id, *, day=DAY, doctor="D003", capacity=2, slots=(("09:00", "09:30"),),
                 fee=1200, status="open", period="morning"):
    response = his.post("/api/v1/his/schedules", json={"schedules": [{
        "his_id": his_id, "doctor_code": doctor, "date": day.isoformat(), "period": period,
        "type": "general", "fee_fen": fee, "room": "3楼 5诊室", "status": status,
        "slots": [{"start": a, "end": b, "capacity": capacity} for a, b in slots]}]})
    assert response.status_code == 200, response.text
    return response.json()["ids"][his_id]


def schedule(app, schedule_id):
    return app.http.get(f"/api/v1/schedules/{schedule_id}").json()


def inbox(app, phone):
    app.call(lambda s: s.notify.dispatch_due())
    return app.http.get("/dev/inbox", params={"phone": phone}).json()


def test_patient_books_a_slot_and_gets_a_ticket_with_a_qr_code(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-A-1", capacity=3)
    listed = app.http.get("/api/v1/schedules", params={
        "doctor_id": schedule(app, sid)["doctor_id"], "date": DAY.isoformat()}).json()
    mine = next(s for s in listed if s["id"] == sid)
    assert mine["released"] is True and mine["slots"][0]["remaining"] == 3
    assert mine["fee_fen"] == 1200 and mine["room"] == "3楼 5诊室"

    family = Family(app)
    patient = family.member(name="王小明")
    response = family.client.post("/api/v1/appointments",
                                  json={"patient_id": patient.id, "slot_id": mine["slots"][0]["id"]})
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["status"] == "booked" and ticket["ticket_no"].startswith("A01")
    assert ticket["patient_name"] == "王*明" and ticket["time_label"] == "09:00-09:30"
    assert ticket["qr_code"] and ticket["cancellable"] is True
    png = family.client.get(ticket["qr_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert schedule(app, sid)["slots"][0]["remaining"] == 2
    assert [a["id"] for a in family.client.get("/api/v1/appointments").json()] == [ticket["id"]]
    message = inbox(app, patient.phone)[0]
    assert message["template"] == "appointment_booked" and ticket["ticket_no"] in message["text"]


def test_full_slot_answers_409_slot_full(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-FULL-1", capacity=1)
    slot_id = schedule(app, sid)["slots"][0]["id"]
    first, second = Family(app), Family(app)
    a = first.client.post("/api/v1/appointments",
                          json={"patient_id": first.member().id, "slot_id": slot_id})
    b = second.client.post("/api/v1/appointments",
                           json={"patient_id": second.member().id, "slot_id": slot_id})
    assert a.status_code == 201
    assert b.status_code == 409 and b.json()["error"]["code"] == "slot_full"
    assert "已满" in b.json()["error"]["message"]


def test_another_accounts_patient_or_appointment_is_not_found(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-OWN-1")
    slot_id = schedule(app, sid)["slots"][0]["id"]
    owner, stranger = Family(app), Family(app)
    member = owner.member()
    taken = stranger.client.post("/api/v1/appointments",
                                 json={"patient_id": member.id, "slot_id": slot_id})
    assert taken.status_code == 404 and taken.json()["error"]["code"] == "patient_not_found"
    booked = owner.client.post("/api/v1/appointments",
                               json={"patient_id": member.id, "slot_id": slot_id}).json()
    for path in ("", "/queue", "/qr"):
        assert stranger.client.get(f"/api/v1/appointments/{booked['id']}{path}").status_code == 404
    assert stranger.client.post(f"/api/v1/appointments/{booked['id']}/cancel").status_code == 404


def test_cancelling_gives_the_place_back_until_the_slot_starts(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-CANCEL-1", capacity=1)
    slot_id = schedule(app, sid)["slots"][0]["id"]
    family = Family(app)
    patient = family.member()
    booked = family.client.post("/api/v1/appointments",
                                json={"patient_id": patient.id, "slot_id": slot_id}).json()
    cancelled = family.client.post(f"/api/v1/appointments/{booked['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert schedule(app, sid)["slots"][0]["remaining"] == 1
    again = family.client.post(f"/api/v1/appointments/{booked['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    rebooked = family.client.post("/api/v1/appointments",
                                  json={"patient_id": patient.id, "slot_id": slot_id}).json()
    app.clock.set(local(DAY, 9, 0))
    late = family.client.post(f"/api/v1/appointments/{rebooked['id']}/cancel")
    assert late.status_code == 422 and late.json()["error"]["code"] == "cancel_cutoff_passed"


def test_waitlisted_patient_gets_the_cancelled_place_and_is_told(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-WAIT-1", capacity=1)
    slot_id = schedule(app, sid)["slots"][0]["id"]
    holder, first, second = Family(app), Family(app), Family(app)
    held = holder.client.post("/api/v1/appointments",
                              json={"patient_id": holder.member().id, "slot_id": slot_id}).json()
    early = first.member(name="李候补")
    w1 = first.client.post("/api/v1/waitlist", json={"patient_id": early.id, "schedule_id": sid})
    assert w1.status_code == 201 and w1.json()["position"] == 1
    w2 = second.client.post("/api/v1/waitlist",
                            json={"patient_id": second.member().id, "schedule_id": sid})
    assert w2.json()["position"] == 2
    dup = first.client.post("/api/v1/waitlist", json={"patient_id": early.id, "schedule_id": sid})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_waitlisted"

    holder.client.post(f"/api/v1/appointments/{held['id']}/cancel")
    mine = first.client.get("/api/v1/appointments").json()
    assert len(mine) == 1 and mine[0]["status"] == "booked" and mine[0]["slot_id"] == slot_id
    assert first.client.get("/api/v1/waitlist").json()[0]["status"] == "promoted"
    assert schedule(app, sid)["slots"][0]["remaining"] == 0       # handed over, never freed
    assert second.client.get("/api/v1/waitlist").json()[0]["position"] == 1
    assert any(m["template"] == "waitlist_promoted" for m in inbox(app, early.phone))


def test_waitlist_is_only_for_full_schedules_and_expires(seeded_app, his):
    app = seeded_app
    sid = his_schedule(his, "HIS-WAIT-2", capacity=1)
    family = Family(app)
    member = family.member()
    open_ = family.client.post("/api/v1/waitlist", json={"patient_id": member.id, "schedule_id": sid})
    assert open_.status_code == 409 and open_.json()["error"]["code"] == "places_available"
    other = Family(app)
    other.client.post("/api/v1/appointments", json={
        "patient_id": other.member().id, "slot_id": schedule(app, sid)["slots"][0]["id"]})
    entry = family.client.post("/api/v1/waitlist",
                               json={"patient_id": member.id, "schedule_id": sid}).json()
    app.clock.set(local(DAY, 9, 1))
    app.call(lambda s: s.registration.expire_waitlist())
    assert family.client.get("/api/v1/waitlist").json()[0]["status"] == "expired"
    assert entry["status"] == "waiting"


def test_booking_errors_are_clear_4xx(seeded_app, his):
    app = seeded_app
    family = Family(app)
    member = family.member()
    bad = family.client.post("/api/v1/appointments", json={"patient_id": member.id, "slot_id": "x"})
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "slot_not_found"
    missing = family.client.post("/api/v1/appointments", json={"patient_id": member.id})
    assert missing.status_code == 400
    no_filter = app.http.get("/api/v1/schedules")
    assert no_filter.status_code == 400 and no_filter.json()["error"]["code"] == "filter_required"
    anonymous = app.http.post("/api/v1/appointments", json={"patient_id": member.id, "slot_id": "x"})
    assert anonymous.status_code == 401
