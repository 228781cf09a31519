"""The hospital calendar over HTTP: admins open and close days, everyone reads them, and
registration releases numbers and sends reminders only on open days.

Every day here is derived from tests.harness.START_DAY, and the days whose answer matters are
pinned with the hospital's own overrides, so nothing depends on the real year's holidays.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from tests.harness import START_DAY
from services.errors import DomainError
from tests.registration.helpers import add_schedule, local, new_patient
from tests.support import staff_client

STANDING_CLOSED = START_DAY + timedelta(days=40)
REFRESH_SECONDS = 1.0
APP_OVERRIDES = {"calendar.closed_days": [STANDING_CLOSED.isoformat()],
                 "calendar.refresh_seconds": REFRESH_SECONDS}


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START_DAY, 9))


@pytest.fixture(scope="module")
def admin(seeded_app):
    return staff_client(seeded_app, "admin", name="王管理")


def set_day(admin, day: date, is_open: bool, note: str = "") -> dict:
    response = admin.put(f"/api/v1/admin/calendar/overrides/{day}", json={"open": is_open, "note": note})
    assert response.status_code == 200, response.text
    return response.json()


def book(app, patient, slot_id):
    return app.call(lambda s: s.registration.book_for_patient(patient, slot_id))


def public_day(app, day: date) -> dict:
    response = app.http.get("/api/v1/calendar", params={"start": day.isoformat(), "days": 1})
    assert response.status_code == 200, response.text
    return response.json()[0]


def test_admin_closes_a_day_everyone_sees_it_and_undoing_restores_the_statutory_answer(
        seeded_app, admin):
    app = seeded_app
    day = START_DAY + timedelta(days=9)
    before = public_day(app, day)
    assert before["source"] in ("chinesecalendar", "fallback")
    stored = set_day(admin, day, False, "院庆停诊")
    assert stored["open"] is False and stored["updated_by"]
    closed = public_day(app, day)
    assert closed == {"date": day.isoformat(), "open": False, "kind": "hospital_closed",
                      "name": "院庆停诊", "source": "admin"}
    listed = admin.get("/api/v1/admin/calendar/overrides").json()
    assert [o["date"] for o in listed] == [day.isoformat()]
    assert app.db.audit_log.count_documents({"action": "calendar.override_set"}) == 1

    restored = admin.delete(f"/api/v1/admin/calendar/overrides/{day}")
    assert restored.status_code == 200 and restored.json() == before
    again = admin.delete(f"/api/v1/admin/calendar/overrides/{day}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "override_not_found"


def test_a_standing_closure_in_config_is_closed(seeded_app):
    day = public_day(seeded_app, STANDING_CLOSED)
    assert (day["open"], day["source"]) == (False, "config")


def test_bad_requests_get_clear_codes_and_only_admins_change_the_calendar(seeded_app, admin):
    app = seeded_app
    bad = admin.put("/api/v1/admin/calendar/overrides/next-tuesday", json={"open": False})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_date"
    assert "YYYY-MM-DD" in bad.json()["error"]["message"]
    far = START_DAY + timedelta(days=800)
    too_far = admin.put(f"/api/v1/admin/calendar/overrides/{far}", json={"open": False})
    assert too_far.status_code == 400
    assert too_far.json()["error"]["code"] == "override_date_out_of_range"
    long = app.http.get("/api/v1/calendar", params={"days": 300})
    assert long.status_code == 400 and long.json()["error"]["code"] == "calendar_range_too_long"
    nurse = staff_client(app, "nurse")
    refused = nurse.put(f"/api/v1/admin/calendar/overrides/{START_DAY}", json={"open": False})
    assert refused.status_code == 403
    assert app.http.put(f"/api/v1/admin/calendar/overrides/{START_DAY}",
                        json={"open": False}).status_code == 401


def test_an_override_written_by_another_process_is_seen_within_the_refresh_bound(seeded_app):
    app = seeded_app
    day = START_DAY + timedelta(days=11)
    assert public_day(app, day)["source"] != "admin"
    app.db.calendar_overrides.insert_one({"_id": day.isoformat(), "open": False, "note": "停电检修",
                                          "updated_by": "其他进程", "updated_at": app.clock.now()})
    time.sleep(REFRESH_SECONDS)
    assert public_day(app, day)["open"] is False


def test_numbers_release_on_the_last_open_day_before_a_closed_release_day(seeded_app, admin):
    app = seeded_app
    visit = START_DAY + timedelta(days=20)
    usual = visit - timedelta(days=7)            # the default rule: seven days ahead at 07:00
    set_day(admin, usual, False, "节假日")
    set_day(admin, usual - timedelta(days=1), False, "节假日")
    set_day(admin, usual - timedelta(days=2), True, "调休上班")
    schedule = add_schedule(app, day=visit)
    released_on = usual - timedelta(days=2)
    assert schedule["release_at"] == local(released_on, 7)
    app.clock.set(local(released_on, 6, 59))
    early = new_patient(app)
    with pytest.raises(DomainError) as refused:
        book(app, early, schedule["slots"][0]["id"])
    assert refused.value.code == "not_released"
    app.clock.set(local(released_on, 7, 0))
    assert book(app, new_patient(app), schedule["slots"][0]["id"]).status == "booked"


def test_reminders_go_on_the_last_open_evening_before_the_visit(seeded_app, admin):
    app = seeded_app
    visit = START_DAY + timedelta(days=5)
    eve = visit - timedelta(days=1)
    set_day(admin, visit, True)
    set_day(admin, eve, False, "节假日")
    set_day(admin, eve - timedelta(days=1), True)
    schedule = add_schedule(app, day=visit, start="09:00")
    patient = new_patient(app, name="孙提醒")
    booked = book(app, patient, schedule["slots"][0]["id"])
    key = f"appointment_reminder:{booked.id}"

    app.clock.set(local(eve - timedelta(days=1), 18, 1))
    app.call(lambda s: s.registration.send_reminders())
    assert app.db.notify_messages.count_documents({"dedup_key": key}) == 1
    app.clock.set(local(eve, 18, 1))                # the closed day sends nothing
    assert app.call(lambda s: s.registration.send_reminders()) == 0
    assert app.db.notify_messages.count_documents({"dedup_key": key}) == 1
