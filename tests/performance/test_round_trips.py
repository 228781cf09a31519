"""The round-trip budget: database commands per request, counted on the app's own client.

A `RequestCommandLog` (a PyMongo CommandListener) groups commands by request id; each test
sends its own `X-Request-Id` and reads what that request cost. Budgets (issue 16): booking
≤ 6 commands, an authenticated GET ≤ 1 beyond its own data, check-in, queue position and the
report list ≤ 3. A failing test here names the commands, so the extra round trip is visible.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest

from server.db_commands import RequestCommandLog
from services.demo import seed_demo
from tests.harness import START_DAY, AppUnderTest, test_settings, unique_db_name
from tests.registration.helpers import Family, local
from tests.support import device_client, patient_client, staff_client

TODAY = START_DAY
COMMANDS = RequestCommandLog()


@pytest.fixture(scope="module")
def app(db_server, tmp_path_factory):
    """The real app, seeded, whose database client reports every command to COMMANDS."""
    settings = test_settings(db_server.uri, tmp_path_factory.mktemp("var"),
                             unique_db_name(__name__))
    under_test = AppUnderTest(settings, command_listeners=[COMMANDS]).start()
    under_test.call(lambda s: seed_demo(s.db, s.catalogue, s.clock))
    under_test.clock.set(local(TODAY, 8))
    yield under_test
    under_test.stop()


@pytest.fixture(scope="module")
def clinic(app):
    """Today 10:00-11:00, two slots of 20, and the clinic's check-in code."""
    his = device_client(app, "his", name="HIS")
    response = his.post("/api/v1/his/schedules", json={"schedules": [{
        "his_id": "RT-TODAY-1", "doctor_code": "D001", "date": TODAY.isoformat(),
        "period": "morning", "fee_fen": 1200, "room": "2楼 8诊室",
        "slots": [{"start": "10:00", "end": "10:30", "capacity": 20},
                  {"start": "10:30", "end": "11:00", "capacity": 20}]}]})
    assert response.status_code == 200, response.text
    schedule = app.http.get(f"/api/v1/schedules/{response.json()['ids']['RT-TODAY-1']}").json()
    nurse = staff_client(app, "nurse", name="周护士")
    code = nurse.get(f"/api/v1/admin/clinics/{schedule['clinic_id']}/code").json()["code"]
    return {"schedule": schedule, "code": code}


def counted(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[httpx.Response, list[str]]:
    """Send one request under a fresh request id; its response and the commands it sent."""
    rid = uuid.uuid4().hex
    response = client.request(method, url, headers={"X-Request-Id": rid}, **kwargs)
    return response, COMMANDS.commands_of(rid)


def book(app, clinic, family: Family | None = None):
    family = family or Family(app)
    patient = family.member(name="王小明")
    response, commands = counted(family.client, "POST", "/api/v1/appointments", json={
        "patient_id": patient.id, "slot_id": clinic["schedule"]["slots"][0]["id"]})
    assert response.status_code == 201, response.text
    return family, response.json(), commands


@pytest.fixture(autouse=True)
def eight_in_the_morning(app):
    app.clock.set(local(TODAY, 8))


def test_an_authenticated_read_costs_the_session_lookup_and_its_own_data_and_writes_nothing(app):
    family = Family(app)
    response, commands = counted(family.client, "GET", "/api/v1/account")
    assert response.status_code == 200
    assert commands == ["find sessions", "find accounts"]
    response, commands = counted(family.client, "GET", "/api/v1/patients")
    assert response.status_code == 200
    assert commands == ["find sessions", "find patients"]


def test_a_sliding_session_is_written_back_once_a_few_minutes_have_passed(app):
    family = Family(app)
    start = app.clock.now()
    try:
        for minutes in (1, 2, 4):
            app.clock.set(start + timedelta(minutes=minutes))
            _, commands = counted(family.client, "GET", "/api/v1/account")
            assert RequestCommandLog.writes(commands) == []
        app.clock.set(start + timedelta(minutes=6))
        _, commands = counted(family.client, "GET", "/api/v1/account")
        assert RequestCommandLog.writes(commands) == ["update sessions"]
        session = app.db["sessions"].find_one({"subject_id": family.account_id})
        assert session["expires_at"] - app.clock.now() == timedelta(days=30)
        _, commands = counted(family.client, "GET", "/api/v1/account")   # just renewed
        assert RequestCommandLog.writes(commands) == []
    finally:
        app.clock.set(start)


def test_a_session_used_for_less_than_its_renewal_interval_still_expires_on_time(app):
    family = Family(app)
    start = app.clock.now()
    try:
        app.clock.set(start + timedelta(days=30, seconds=1))
        response = family.client.get("/api/v1/account")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "session_invalid"
    finally:
        app.clock.set(start)


def test_logout_takes_effect_on_the_next_request_although_reads_no_longer_write(app):
    family = Family(app)
    assert family.client.get("/api/v1/account").status_code == 200
    assert family.client.post("/api/v1/auth/logout").status_code == 204
    after = family.client.get("/api/v1/account")
    assert after.status_code == 401 and after.json()["error"]["code"] == "session_invalid"


def test_logout_all_ends_every_session_of_the_account_at_once(app):
    first, account_id = patient_client(app)
    token = app.call(lambda s: s.identity.create_session("patient", account_id))
    second = httpx.Client(base_url=app.url, timeout=30.0, headers={"Authorization": f"Bearer {token}"})
    assert second.get("/api/v1/account").status_code == 200
    ended = first.post("/api/v1/auth/logout-all")
    assert ended.status_code == 200 and ended.json()["sessions_ended"] == 2
    assert first.get("/api/v1/account").status_code == 401
    assert second.get("/api/v1/account").status_code == 401


@pytest.mark.xfail(strict=True, reason="over budget today: a booking sends 16 commands (issue 16)")
def test_booking_costs_at_most_six_commands(app, clinic):
    _, _, commands = book(app, clinic)
    assert len(commands) <= 6, commands


@pytest.mark.xfail(strict=True, reason="over budget today: check-in sends 8 commands, among them "
                   "the queue-near notice to the first in line (issue 16)")
def test_check_in_costs_at_most_three_commands(app, clinic):
    family, appointment, _ = book(app, clinic)
    with_clock_at_check_in(app)
    assert family.client.get("/api/v1/account").status_code == 200  # the due renewal, first
    response, commands = counted(family.client, "POST",
                                 f"/api/v1/appointments/{appointment['id']}/check-in",
                                 json={"clinic_code": clinic["code"]})
    assert response.status_code == 200, response.text
    assert len(commands) <= 3, commands


def test_queue_position_costs_at_most_three_commands(app, clinic):
    family, appointment, _ = book(app, clinic)
    with_clock_at_check_in(app)
    assert family.client.post(f"/api/v1/appointments/{appointment['id']}/check-in",
                              json={"clinic_code": clinic["code"]}).status_code == 200
    response, commands = counted(family.client, "GET",
                                 f"/api/v1/appointments/{appointment['id']}/queue")
    assert response.status_code == 200, response.text
    assert len(commands) <= 3, commands


def with_clock_at_check_in(app) -> None:
    """09:31 today: check-in is open for the 10:00 slot (each test sets its own clock)."""
    app.clock.set(local(TODAY, 9, 31))


def test_report_list_costs_at_most_three_commands(app):
    family = Family(app)
    patient = family.member(name="李四")
    response, commands = counted(family.client, "GET", "/api/v1/reports",
                                 params={"patient_id": patient.id})
    assert response.status_code == 200, response.text
    assert len(commands) <= 3, commands
