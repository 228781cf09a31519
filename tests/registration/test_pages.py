"""Registration pages in a phone-sized Chromium: book from the department tree to the
ticket, then check in on the ticket page and follow the queue; the doctor's station."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from services.registration.base import schedule_oid
from tests.harness import START_DAY
from tests.registration.helpers import local
from tests.support import add_patient, device_client, sms_login, staff_client

pytestmark = pytest.mark.browser
TODAY = START_DAY


def logged_in(app, page):
    """A patient with one family member; the browser carries their H5 session cookie."""
    client, _ = sms_login(app)
    member = add_patient(app, client, name="林小雨", sex="female", birth=date(1990, 3, 8))
    page.context.add_cookies([{"name": "palm_session", "value": client.cookies["palm_session"],
                               "url": app.url}])
    return client, member


def test_patient_books_from_the_department_tree_to_a_ticket(seeded_app, phone):
    app = seeded_app
    app.clock.set(local(TODAY, 9))
    client, member = logged_in(app, phone)
    phone.goto(f"{app.url}/h5/")
    phone.click("text=预约挂号")
    phone.click("[data-department=呼吸内科]")
    phone.wait_for_selector(".doctor-card")
    phone.locator(".date-chip").first.click()
    phone.wait_for_selector(".slot")
    phone.locator(".slot:not(.full) input").first.check()
    phone.select_option("#patient", member["id"])
    phone.click("#confirm")
    phone.wait_for_url(f"{app.url}/h5/appointments/*")
    ticket = phone.inner_text("#ticket-no")
    assert ticket[0] in "APE" and len(ticket) >= 5
    assert phone.inner_text("#status") == "待就诊"
    assert "林*雨" in phone.inner_text("#ticket")
    assert phone.eval_on_selector(".qr", "img => img.naturalWidth") > 0
    mine = client.get("/api/v1/appointments").json()
    assert [a["ticket_no"] for a in mine] == [ticket]
    phone.goto(f"{app.url}/h5/appointments")
    assert ticket in phone.inner_text(".appointment")


def test_patient_checks_in_with_the_clinic_code_and_sees_the_queue(seeded_app, phone):
    app = seeded_app
    app.clock.set(local(TODAY, 8))
    his = device_client(app, "his", name="HIS")
    sid = his.post("/api/v1/his/schedules", json={"schedules": [{
        "his_id": "PAGE-Q-1", "doctor_code": "D002", "date": TODAY.isoformat(),
        "period": "afternoon", "fee_fen": 1200, "room": "1楼 3诊室",
        "slots": [{"start": "14:00", "end": "14:30", "capacity": 4}]}]}).json()["ids"]["PAGE-Q-1"]
    schedule = app.http.get(f"/api/v1/schedules/{sid}").json()
    client, member = logged_in(app, phone)
    appt = client.post("/api/v1/appointments", json={"patient_id": member["id"],
                                                     "slot_id": schedule["slots"][0]["id"]}).json()
    nurse = staff_client(app, "nurse")
    code = nurse.get(f"/api/v1/admin/clinics/{schedule['clinic_id']}/code").json()["code"]

    app.clock.set(local(TODAY, 13, 10))
    phone.goto(f"{app.url}/h5/appointments/{appt['id']}")
    phone.fill("#clinic-code", code)
    phone.click("#check-in")
    phone.wait_for_selector("#action-error:not(.hidden)")
    refused = phone.inner_text("#action-error")
    assert "请于" in refused and "13:30" in refused

    app.clock.set(local(TODAY, 13, 40))
    phone.click("#check-in")
    expect(phone.locator("#status")).to_have_text("已报到")
    expect(phone.locator("#queue-message")).to_contain_text("前面还有 0 人")
    assert phone.locator("#check-in-card").is_hidden()

    nurse.post(f"/api/v1/station/schedules/{sid}/call-next")
    phone.reload()
    expect(phone.locator("#queue-message")).to_contain_text("请立即到")
    assert appt["ticket_no"] in phone.inner_text("#queue-calling")


def test_doctor_station_calls_the_next_patient(seeded_app, phone):
    app = seeded_app
    app.clock.set(local(TODAY, 13, 45))
    username = "station_doc"
    app.call(lambda s: s.staff.create_staff(username, "吴医生", ["doctor"], "s3cret-pass-1"))
    dept_id = app.db.doctors.find_one({"code": "D002"})["department_id"]
    phone.goto(f"{app.url}/station")
    phone.fill("input[name=username]", username)
    phone.fill("input[name=password]", "s3cret-pass-1")
    phone.click("#login-form button")
    phone.wait_for_selector("#workspace:not(.hidden)")
    phone.select_option("#department", str(dept_id))
    phone.click("#filter button")
    phone.wait_for_selector("#queue:not(.hidden)")
    phone.select_option("#schedule", str(schedule_oid("PAGE-Q-1")))   # the previous test's clinic
    expect(phone.locator("#current")).to_contain_text("林*雨")
    # a nurse's screen finishes the visit first: this screen's press changes nothing and says so
    other = staff_client(app, "nurse", name="郑护士")
    assert other.post(f"/api/v1/station/schedules/{schedule_oid('PAGE-Q-1')}/complete").status_code == 200
    phone.click("[data-action=complete]")
    expect(phone.locator("#work-error")).to_contain_text("已被其他终端更新")
    expect(phone.locator("#counts")).to_contain_text("已完成 1 人")
    expect(phone.locator("#current")).to_have_text("—")
