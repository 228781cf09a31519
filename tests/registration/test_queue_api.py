"""Check-in (报到) and the calling queue: clinic QR on the phone, kiosk, doctor's station,
the patient's live queue, the clinic display."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId

from tests.harness import START_DAY
from tests.registration.helpers import Family, local
from tests.support import device_client, staff_client

TODAY = START_DAY


@pytest.fixture(scope="module")
def clinic(seeded_app):
    """A schedule today 10:00-11:00 in two slots, with a nurse, a display and a kiosk."""
    app = seeded_app
    app.clock.set(local(TODAY, 8))
    his = device_client(app, "his", name="HIS")
    response = his.post("/api/v1/his/schedules", json={"schedules": [{
        "his_id": "Q-TODAY-1", "doctor_code": "D001", "date": TODAY.isoformat(),
        "period": "morning", "fee_fen": 1200, "room": "2楼 8诊室",
        "slots": [{"start": "10:00", "end": "10:30", "capacity": 20},
                  {"start": "10:30", "end": "11:00", "capacity": 20}]}]})
    assert response.status_code == 200, response.text
    schedule_id = response.json()["ids"]["Q-TODAY-1"]
    schedule = app.http.get(f"/api/v1/schedules/{schedule_id}").json()
    nurse = staff_client(app, "nurse", name="周护士")
    code = nurse.get(f"/api/v1/admin/clinics/{schedule['clinic_id']}/code").json()
    return {"schedule": schedule, "nurse": nurse, "code": code["code"],
            "display": device_client(app, "display", name="诊区屏"),
            "kiosk": device_client(app, "kiosk", name="大厅自助机")}


def booked(app, clinic, slot_index=0, name="张三"):
    family = Family(app)
    patient = family.member(name=name)
    response = family.client.post("/api/v1/appointments", json={
        "patient_id": patient.id, "slot_id": clinic["schedule"]["slots"][slot_index]["id"]})
    assert response.status_code == 201, response.text
    return family, response.json()


def check_in(family, appointment, code):
    return family.client.post(f"/api/v1/appointments/{appointment['id']}/check-in",
                              json={"clinic_code": code})


def station(clinic, action=None):
    sid = clinic["schedule"]["id"]
    if action is None:
        return clinic["nurse"].get(f"/api/v1/station/schedules/{sid}").json()
    response = clinic["nurse"].post(f"/api/v1/station/schedules/{sid}/{action}")
    assert response.status_code == 200, response.text
    return response.json()


def test_check_in_opens_thirty_minutes_before_and_needs_the_right_clinic_code(seeded_app, clinic):
    app = seeded_app
    app.clock.set(local(TODAY, 8, 30))
    family, appt = booked(app, clinic)
    app.clock.set(local(TODAY, 9, 10))
    early = check_in(family, appt, clinic["code"])
    assert early.status_code == 422 and early.json()["error"]["code"] == "check_in_too_early"
    assert "09:30" in early.json()["error"]["message"]
    app.clock.set(local(TODAY, 9, 31))
    forged = check_in(family, appt, clinic["code"][:-3] + "abc")
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "clinic_code_invalid"
    other = clinic["nurse"].get("/api/v1/admin/clinics/east-IM-RESP/code").json()["code"]
    wrong = check_in(family, appt, other)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "wrong_clinic"
    ok = check_in(family, appt, clinic["code"])
    assert ok.status_code == 200 and ok.json()["status"] == "checked_in"
    assert check_in(family, appt, clinic["code"]).status_code == 200     # scanning twice is fine
    queue = family.client.get(f"/api/v1/appointments/{appt['id']}/queue").json()
    assert queue["status"] == "checked_in" and queue["ahead"] == 0
    # leave the queue clean for the next tests
    station(clinic, "call-next")
    station(clinic, "complete")


def test_queue_orders_by_slot_then_check_in_and_late_arrivals_go_last(seeded_app, clinic):
    app = seeded_app
    app.clock.set(local(TODAY, 8, 40))
    a = booked(app, clinic, 0, "甲一一")
    b = booked(app, clinic, 0, "乙二二")
    c = booked(app, clinic, 1, "丙三三")
    late = booked(app, clinic, 0, "丁四四")
    for who, at in ((b, (9, 41)), (a, (9, 45)), (c, (10, 2))):
        app.clock.set(local(TODAY, *at))
        assert check_in(*who, clinic["code"]).status_code == 200
    app.clock.set(local(TODAY, 10, 20))
    response = check_in(*late, clinic["code"])
    assert response.status_code == 200 and response.json()["late"] is True
    order = [e["ticket_no"] for e in station(clinic)["waiting"]]
    assert order == [b[1]["ticket_no"], a[1]["ticket_no"], c[1]["ticket_no"],
                     late[1]["ticket_no"]]

    after_call = station(clinic, "call-next")
    assert after_call["current"]["ticket_no"] == b[1]["ticket_no"]
    assert after_call["current"]["patient_name"] == "乙*二"
    mine = c[0].client.get(f"/api/v1/appointments/{c[1]['id']}/queue").json()
    assert mine["calling"] == b[1]["ticket_no"] and mine["ahead"] == 1
    assert mine["estimated_minutes"] == 16 and "前面还有 1 人" in mine["message"]
    screen = clinic["display"].get("/api/v1/display/queue",
                                   params={"clinic_id": clinic["schedule"]["clinic_id"]})
    assert screen.status_code == 200
    board = next(d for d in screen.json()["doctors"] if d["schedule_id"] == clinic["schedule"]["id"])
    assert board["calling"]["ticket_no"] == b[1]["ticket_no"]
    assert board["calling"]["patient_name"] == "乙*二"
    assert "乙二二" not in screen.text
    # everyone with three or fewer ahead was told once
    near = app.db.notify_messages.count_documents({"dedup_key": {"$regex": "^queue_near:"}})
    assert near >= 3
    for _ in range(4):
        station(clinic, "call-next")
    assert station(clinic)["current"] is None


def test_skipped_patient_rejoins_after_the_next_three(seeded_app, clinic):
    app = seeded_app
    app.clock.set(local(TODAY, 9, 0))
    people = [booked(app, clinic, 1, f"病人{i}号") for i in range(5)]
    for i, who in enumerate(people):
        app.clock.set(local(TODAY, 10, 1 + i))
        assert check_in(*who, clinic["code"]).status_code == 200
    tickets = [p[1]["ticket_no"] for p in people]
    assert station(clinic, "call-next")["current"]["ticket_no"] == tickets[0]
    recalled = station(clinic, "recall")
    assert recalled["current"]["ticket_no"] == tickets[0]
    skipped = station(clinic, "skip")
    assert skipped["current"]["ticket_no"] == tickets[1]
    assert [e["ticket_no"] for e in skipped["waiting"]] == [tickets[2], tickets[3], tickets[0],
                                                           tickets[4]]
    for _ in range(5):
        station(clinic, "call-next")


def test_kiosk_checks_in_by_scanning_the_ticket(seeded_app, clinic):
    app = seeded_app
    app.clock.set(local(TODAY, 9, 50))
    family, appt = booked(app, clinic, 0, "自助机")
    response = clinic["kiosk"].post("/api/v1/kiosk/check-in", json={"ticket_code": appt["qr_code"]})
    assert response.status_code == 200 and response.json()["status"] == "checked_in"
    assert family.client.get(f"/api/v1/appointments/{appt['id']}").json()["status"] == "checked_in"
    bad = clinic["kiosk"].post("/api/v1/kiosk/check-in", json={"ticket_code": "x" * 40})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "ticket_code_invalid"
    assert app.db.audit_log.count_documents({"action": "registration.kiosk_check_in"}) >= 1


def test_patients_and_other_roles_cannot_use_the_station(seeded_app, clinic):
    app = seeded_app
    sid = clinic["schedule"]["id"]
    pharmacist = staff_client(app, "pharmacist")
    assert pharmacist.post(f"/api/v1/station/schedules/{sid}/call-next").status_code == 403
    family, _ = booked(app, clinic, 1, "越权者")
    assert family.client.get(f"/api/v1/station/schedules/{sid}").status_code == 401
    assert app.http.get("/api/v1/display/queue", params={"clinic_id": "x"}).status_code == 401


def test_presses_at_once_never_leave_two_patients_called(seeded_app, clinic):
    """Two nurses' screens (or a doubled tap) pressing at the same moment: the queue moves as
    if the presses came one after the other, and a press that carries the called patient it
    saw moves the queue once however often it is sent."""
    app = seeded_app
    while (now := station(clinic))["current"] or now["waiting"]:   # earlier tests' leftovers
        station(clinic, "call-next")
    app.clock.set(local(TODAY, 9, 0))
    people = [booked(app, clinic, 1, f"并发{i}号") for i in range(6)]
    for i, who in enumerate(people):
        app.clock.set(local(TODAY, 10, 10 + i))
        assert check_in(*who, clinic["code"]).status_code == 200
    sid = clinic["schedule"]["id"]
    ids = {p[1]["id"] for p in people}

    def statuses():
        return [app.db.appointments.find_one({"_id": ObjectId(i)})["status"] for i in sorted(ids)]

    url = f"/api/v1/station/schedules/{sid}/call-next"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: clinic["nurse"].post(url), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    now = statuses()
    assert now.count("called") == 1 and now.count("completed") == 3, now

    seen = station(clinic)["current"]["appointment_id"]
    with ThreadPoolExecutor(3) as pool:
        doubled = list(pool.map(lambda _: clinic["nurse"].post(url, params={"expect": seen}),
                                range(3)))
    assert [a.status_code for a in doubled] == [200] * 3
    now = statuses()
    assert now.count("called") == 1 and now.count("completed") == 4, now
    assert all(a.json()["current"]["appointment_id"] != seen for a in doubled)
    assert sorted(a.json()["applied"] for a in doubled) == [False, False, True]

    stale = clinic["nurse"].post(url, params={"expect": seen})     # a retry after the fact
    assert stale.status_code == 200 and statuses().count("completed") == 4
    assert stale.json()["applied"] is False
    bad = clinic["nurse"].post(url, params={"expect": "someone"})
    assert bad.status_code == 400
    for _ in range(2):
        station(clinic, "call-next")
    station(clinic, "complete")
    assert statuses().count("completed") == 6
