"""健康档案: a patient records home readings over the API and reads them back with flags."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

import pytest

from services.clock import SHANGHAI
from tests.harness import START_DAY
from tests.reports.helpers import family
from tests.support import patient_client

_keys = itertools.count(1)


def key() -> str:
    return f"phone-key-{next(_keys):06d}"


def at(days_before: int, hh: int = 7, mm: int = 30) -> str:
    """A local morning before the test clock's start day (the clock starts at 09:00)."""
    day = START_DAY - timedelta(days=days_before)
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI).isoformat()


@pytest.fixture(scope="module")
def wang(app):
    return family(app)


def readings_url(patient) -> str:
    return f"/api/v1/patients/{patient['id']}/health-readings"


def save(client, patient, status=200, **body):
    body.setdefault("client_key", key())
    response = client.post(readings_url(patient), json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_blood_pressure_is_stored_flagged_and_shown_in_shanghai_time(app, wang):
    client, _, patient, _ = wang
    saved = save(client, patient, kind="blood_pressure", systolic=152, diastolic=94,
                 measured_at=at(1))
    reading = saved["reading"]
    assert saved["outcome"] == "created"
    assert (reading["flag"], reading["flag_label"], reading["display"]) == ("H", "偏高", "152/94 mmHg")
    assert reading["measured_at_local"].endswith("07:30")
    assert reading["kind_label"] == "血压" and reading["unit"] == "mmHg"


def test_the_numbers_are_encrypted_at_rest(app, wang):
    client, _, patient, _ = wang
    save(client, patient, kind="weight", value=71.4, measured_at=at(2), note="早饭前")
    doc = app.db["health_readings"].find_one({"patient_id": patient["id"], "kind": "weight"})
    assert "71.4" not in str(doc) and "早饭前" not in str(doc)
    assert set(doc["data"]) == {"k", "n", "c"}


def test_a_retried_save_with_the_same_key_stores_one_reading(app, wang):
    client, _, patient, _ = wang
    body = {"kind": "heart_rate", "value": 72, "measured_at": at(3), "client_key": key()}
    first = save(client, patient, **body)
    again = save(client, patient, **body)
    assert again["outcome"] == "unchanged" and again["reading"]["id"] == first["reading"]["id"]
    assert app.db["health_readings"].count_documents({"client_key": body["client_key"]}) == 1


def test_list_is_newest_first_with_a_summary_per_kind(app):
    client, _, patient, _ = family(app, name="李秀英", sex="female")
    save(client, patient, kind="glucose", value=6.1, fasting=True, measured_at=at(10))
    save(client, patient, kind="glucose", value=7.8, fasting=True, measured_at=at(4))
    save(client, patient, kind="glucose", value=8.2, fasting=False, measured_at=at(2))
    listed = client.get(readings_url(patient), params={"kind": "glucose"}).json()
    assert [r["display"] for r in listed["readings"]] == [
        "8.2 mmol/L", "7.8 mmol/L（空腹）", "6.1 mmol/L（空腹）"]
    assert [r["flag"] for r in listed["readings"]] == ["N", "H", "N"]
    (summary,) = listed["summaries"]
    assert (summary["count"], summary["abnormal_count"]) == (3, 1)
    assert summary["latest"]["display"] == "8.2 mmol/L"
    assert listed["patient_name"] == "李*英"
    recent = client.get(readings_url(patient), params={"kind": "glucose", "days": 7}).json()
    assert len(recent["readings"]) == 2


def test_another_accounts_family_member_is_not_found(app, wang):
    _, _, patient, _ = wang
    stranger, _ = patient_client(app)
    response = stranger.get(readings_url(patient))
    assert response.status_code == 404
    response = stranger.post(readings_url(patient), json={
        "kind": "weight", "value": 60, "measured_at": at(1), "client_key": key()})
    assert response.status_code == 404


@pytest.mark.parametrize(("body", "code"), [
    ({"kind": "blood_pressure", "systolic": 1200, "diastolic": 80}, "reading_out_of_range"),
    ({"kind": "blood_pressure", "systolic": 80, "diastolic": 120}, "reading_out_of_range"),
    ({"kind": "blood_pressure", "value": 120}, "reading_fields_mismatch"),
    ({"kind": "weight", "value": 70, "fasting": True}, "reading_fields_mismatch"),
    ({"kind": "glucose", "value": 0.2}, "reading_out_of_range"),
    ({"kind": "temperature", "value": 37}, None),
])
def test_bad_readings_are_a_clear_400_in_chinese(app, wang, body, code):
    client, _, patient, _ = wang
    response = client.post(readings_url(patient), json={**body, "measured_at": at(1),
                                                         "client_key": key()})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


def test_a_reading_dated_tomorrow_is_refused(app, wang):
    client, _, patient, _ = wang
    tomorrow = datetime.combine(START_DAY + timedelta(days=1), time(8), tzinfo=SHANGHAI)
    response = client.post(readings_url(patient), json={
        "kind": "weight", "value": 70, "measured_at": tomorrow.isoformat(), "client_key": key()})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "measured_in_future"
