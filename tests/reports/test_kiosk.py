"""Kiosk self-printing: a short session for one patient, opened by visit code or card."""

from __future__ import annotations

import pytest

from services.kiosk import _hash as kiosk_token_hash
from tests.reports.helpers import access_log, family, lab
from tests.support import device_client, patient_client, staff_client


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his", "LIS")


@pytest.fixture(scope="module")
def kiosk(app):
    return device_client(app, "kiosk", "门诊大厅1号")


@pytest.fixture(scope="module")
def wang(app, his):
    client, _, patient, _ = family(app, name="王建国", card_no="880055550001")
    ids = [his.post("/api/v1/his/reports", json=lab(patient["id"], title=t)).json()["id"]
           for t in ("血常规", "肝功能")]
    pending = his.post("/api/v1/his/reports",
                       json=lab(patient["id"], status="pending", items=[])).json()["id"]
    return {"client": client, "patient": patient, "final": ids, "pending": pending}


def visit_code(wang):
    response = wang["client"].get(f"/api/v1/patients/{wang['patient']['id']}/visit-code")
    assert response.status_code == 200, response.text
    return response.json()["token"]


def open_session(kiosk, **body):
    response = kiosk.post("/api/v1/kiosk/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_visit_code_opens_a_session_listing_only_that_patients_printable_reports(app, his, kiosk, wang):
    _, _, other, _ = family(app, name="陈某人")
    his.post("/api/v1/his/reports", json=lab(other["id"], title="别人的报告"))
    session = open_session(kiosk, visit_code=visit_code(wang))
    assert session["patient"] == {"name": "王*国", "card_no": "88******0001"}
    assert sorted(r["id"] for r in session["reports"]) == sorted(wang["final"])
    assert session["idle_seconds"] == 60 and session["receipts_available"] is True
    assert session["receipts"] == []   # no paid bills yet
    listed = kiosk.get("/api/v1/kiosk/reports", headers={"X-Kiosk-Session": session["token"]})
    assert sorted(r["id"] for r in listed.json()) == sorted(wang["final"])


def test_kiosk_cannot_list_anyone_without_a_valid_visit_code(app, kiosk, wang):
    before = len(access_log(app, wang["patient"]["id"]))
    response = kiosk.get("/api/v1/kiosk/reports")
    assert response.status_code == 422 and response.json()["error"]["code"] == "kiosk_session_invalid"
    forged = kiosk.get("/api/v1/kiosk/reports", headers={"X-Kiosk-Session": "x" * 43})
    assert forged.status_code == 422
    code = visit_code(wang)
    tampered = code[:-3] + ("AAA" if code[-3:] != "AAA" else "BBB")
    response = kiosk.post("/api/v1/kiosk/sessions", json={"visit_code": tampered})
    assert response.status_code == 422 and response.json()["error"]["code"] == "visit_code_invalid"
    app.clock.advance(minutes=6)
    try:
        expired = kiosk.post("/api/v1/kiosk/sessions", json={"visit_code": code})
    finally:
        app.clock.advance(minutes=-6)
    assert expired.status_code == 422 and expired.json()["error"]["code"] == "visit_code_invalid"
    assert len(access_log(app, wang["patient"]["id"])) == before   # nobody's data was read
    assert kiosk.post("/api/v1/kiosk/print", json={"report_id": wang["final"][0]}).status_code == 422


def test_a_session_belongs_to_its_kiosk_and_ends_after_three_idle_minutes(app, kiosk, wang):
    session = open_session(kiosk, visit_code=visit_code(wang))
    headers = {"X-Kiosk-Session": session["token"]}
    elsewhere = device_client(app, "kiosk", "门诊二楼")
    assert elsewhere.get("/api/v1/kiosk/reports", headers=headers).status_code == 422
    app.clock.advance(seconds=170)
    assert kiosk.get("/api/v1/kiosk/reports", headers=headers).status_code == 200  # renews
    app.clock.advance(seconds=170)
    assert kiosk.get("/api/v1/kiosk/reports", headers=headers).status_code == 200
    app.clock.advance(seconds=181)
    assert kiosk.get("/api/v1/kiosk/reports", headers=headers).status_code == 422
    # refused by the service's own expiry check: the TTL index has not collected it yet
    stored = app.db.kiosk_sessions.find_one({"token_hash": kiosk_token_hash(session["token"])})
    assert stored is not None and stored["closed_at"] is None


def test_logging_out_ends_the_session(app, kiosk, wang):
    session = open_session(kiosk, visit_code=visit_code(wang))
    headers = {"X-Kiosk-Session": session["token"]}
    assert kiosk.delete("/api/v1/kiosk/sessions/current", headers=headers).status_code == 204
    assert kiosk.get("/api/v1/kiosk/reports", headers=headers).status_code == 422


def test_hospital_card_opens_a_session_and_an_unknown_card_does_not(app, kiosk, wang):
    session = open_session(kiosk, card_no="880055550001")
    assert session["patient"]["name"] == "王*国"
    response = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880000000000"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "card_unknown"
    both = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880055550001", "visit_code": "x" * 20})
    assert both.status_code == 400


def test_every_kiosk_read_and_print_is_audited_and_in_the_patients_access_log(app, kiosk, wang):
    patient_id = wang["patient"]["id"]
    before = {e["_id"] for e in access_log(app, patient_id)}
    session = open_session(kiosk, visit_code=visit_code(wang))
    headers = {"X-Kiosk-Session": session["token"]}
    assert kiosk.get("/api/v1/kiosk/reports", headers=headers).status_code == 200
    printed = kiosk.post("/api/v1/kiosk/print", json={"report_id": wang["final"][0]}, headers=headers)
    assert printed.status_code == 200
    entries = sorted((e for e in access_log(app, patient_id) if e["_id"] not in before),
                     key=lambda e: e["_id"], reverse=True)   # same clock instant: insertion order
    assert [e["action"] for e in entries] == [
        "kiosk.print_report", "kiosk.list_reports", "kiosk.open_session"]
    assert all(e["actor_label"] == "自助机 门诊大厅1号" and e["actor_id"] == kiosk.key_id for e in entries)
    assert entries[0]["details"]["report_id"] == wang["final"][0]
    assert all(e["request_id"] and e["ip"] == "127.0.0.1" for e in entries)
    # ...and the patient sees them in their own access log (identity's API), masked
    shown = wang["client"].get(f"/api/v1/patients/{patient_id}/access-log").json()
    mine = [e for e in shown if e["who"] == "自助机 门诊大厅1号"]
    assert {"自助机识别身份并列出报告", "自助机查询报告", "自助机打印报告"} <= {e["action"] for e in mine}


def test_print_returns_a_pdf_and_staff_see_the_print_count(app, kiosk, wang):
    session = open_session(kiosk, visit_code=visit_code(wang))
    headers = {"X-Kiosk-Session": session["token"]}
    report_id = wang["final"][1]
    counts = []
    for _ in range(2):
        response = kiosk.post("/api/v1/kiosk/print", json={"report_id": report_id}, headers=headers)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        counts.append(int(response.headers["X-Print-Count"]))
    assert counts == [1, 2]
    nurse = staff_client(app, "nurse", "刘护士")
    history = nurse.get(f"/api/v1/staff/reports/{report_id}/prints").json()
    assert history["print_count"] == 2 and [p["count"] for p in history["prints"]] == [1, 2]
    assert history["prints"][0]["by"] == "自助机 门诊大厅1号"
    assert staff_client(app, "finance").get(f"/api/v1/staff/reports/{report_id}/prints").status_code == 403
    assert wang["client"].get(f"/api/v1/staff/reports/{report_id}/prints").status_code == 401
    assert "report.print_history" in {e["action"] for e in access_log(app, wang["patient"]["id"])}


def test_kiosk_cannot_print_another_patients_report_or_a_pending_one(app, his, kiosk, wang):
    _, _, other, _ = family(app, name="林某")
    theirs = his.post("/api/v1/his/reports", json=lab(other["id"])).json()["id"]
    session = open_session(kiosk, visit_code=visit_code(wang))
    headers = {"X-Kiosk-Session": session["token"]}
    for report_id in (theirs, wang["pending"], "nonsense"):
        response = kiosk.post("/api/v1/kiosk/print", json={"report_id": report_id}, headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "report_not_found"
    assert app.db.reports.find_one({"_id": __import__("bson").ObjectId(theirs)})["print_count"] == 0


def test_patients_and_other_devices_cannot_use_kiosk_endpoints(app, wang):
    patient, _ = patient_client(app)
    assert patient.post("/api/v1/kiosk/sessions", json={"card_no": "880055550001"}).status_code == 401
    display = device_client(app, "display")
    assert display.post("/api/v1/kiosk/sessions", json={"card_no": "880055550001"}).status_code == 403


def test_a_kiosk_guessing_card_numbers_is_stopped(app, wang):
    guesser = device_client(app, "kiosk", "门诊三楼")
    codes = [guesser.post("/api/v1/kiosk/sessions", json={"card_no": f"88009{n:07d}"}).status_code
             for n in range(21)]
    assert codes == [422] * 20 + [429]
    blocked = guesser.post("/api/v1/kiosk/sessions", json={"card_no": "880055550001"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) <= 60
    app.clock.advance(seconds=61)
    assert guesser.post("/api/v1/kiosk/sessions", json={"card_no": "880055550001"}).status_code == 201
