"""Reprint policy: when the hospital turns reprints off, a report prints once per kiosk visit."""

from __future__ import annotations

from tests.reports.helpers import family, lab
from tests.support import device_client

APP_OVERRIDES = {"reports.reprint_allowed": False}


def test_second_print_is_refused_when_reprints_are_off(app):
    his, kiosk = device_client(app, "his"), device_client(app, "kiosk")
    _, _, patient, _ = family(app, card_no="880077770001")
    report_id = his.post("/api/v1/his/reports", json=lab(patient["id"])).json()["id"]
    token = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880077770001"}).json()["token"]
    headers = {"X-Kiosk-Session": token}
    first = kiosk.post("/api/v1/kiosk/print", json={"report_id": report_id}, headers=headers)
    assert first.status_code == 200
    again = kiosk.post("/api/v1/kiosk/print", json={"report_id": report_id}, headers=headers)
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "reprint_not_allowed"
    assert again.json()["error"]["details"] == {"print_count": 1}
    assert app.db.reports.find_one({"source_id": {"$exists": True}, "print_count": 1}) is not None
