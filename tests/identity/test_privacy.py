"""After a full patient flow, no plaintext personal data in any collection, response, page
or log line: only ciphertexts, blind indexes and masked values."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import httpx
import pytest

from server.logs import JsonFormatter
from tests.support import (
    device_client,
    new_phone,
    sms_login,
    staff_client,
    valid_id_number,
)

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 1000}

ACCOUNT_PHONE = new_phone()
SELF_PHONE, MUM_PHONE, NEW_PHONE = new_phone(), new_phone(), new_phone()
SELF_ID = valid_id_number(date(1983, 11, 22), "male")
MUM_PASSPORT = "E12345678"
BAD_ID = SELF_ID[:-1] + ("0" if SELF_ID[-1] != "0" else "1")
SELF_NAME, MUM_NAME, STAFF_NAME = "欧阳建华", "林淑珍", "钱晓梅"
SECRETS = [ACCOUNT_PHONE, SELF_PHONE, MUM_PHONE, NEW_PHONE, SELF_ID, MUM_PASSPORT, BAD_ID,
           SELF_NAME, MUM_NAME]


class _AppThreadOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName == "app-under-test"


@pytest.fixture(scope="module")
def flow(app):
    """Everything a family does in a day, with the app's log output captured."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_AppThreadOnly())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for quiet in ("pymongo", "httpx", "httpcore"):   # as server/logs.configure sets them
        logging.getLogger(quiet).setLevel(logging.WARNING)
    responses: list[str] = []
    try:
        client, login = sms_login(app, ACCOUNT_PHONE)
        responses.append(json.dumps(login, ensure_ascii=False))

        def call(method, path, **kwargs):
            response = client.request(method, path, **kwargs)
            responses.append(response.text)
            return response

        me = call("POST", "/api/v1/patients", json={
            "name": SELF_NAME, "document_type": "id_card", "document_number": SELF_ID,
            "phone": SELF_PHONE, "relation": "self"}).json()
        mum = call("POST", "/api/v1/patients", json={
            "name": MUM_NAME, "document_type": "passport", "document_number": MUM_PASSPORT,
            "phone": MUM_PHONE, "relation": "parent", "sex": "female", "birth_date": "1956-03-08"}).json()
        assert call("POST", "/api/v1/patients", json={
            "name": SELF_NAME, "document_type": "id_card", "document_number": BAD_ID,
            "phone": SELF_PHONE}).status_code == 400
        call("GET", "/api/v1/patients")
        call("PATCH", f"/api/v1/patients/{mum['id']}", json={"phone": NEW_PHONE})
        call("GET", f"/api/v1/patients/{mum['id']}")
        call("GET", "/api/v1/account")
        token = call("GET", f"/api/v1/patients/{me['id']}/visit-code").json()["token"]
        staff = staff_client(app, "pharmacist", name=STAFF_NAME)
        responses.append(staff.post("/api/v1/visit-codes/resolve", json={"token": token}).text)
        kiosk = device_client(app, "kiosk")
        responses.append(kiosk.post("/api/v1/visit-codes/resolve", json={"token": token}).text)
        his = device_client(app, "his")
        responses.append(his.post("/api/v1/his/patients/bind-card", json={
            "document_type": "id_card", "document_number": SELF_ID, "name": SELF_NAME,
            "card_no": "C0099999"}).text)
        call("GET", f"/api/v1/patients/{me['id']}/access-log")
        browser = httpx.Client(base_url=app.url, cookies=client.cookies, timeout=30.0)
        pages = [browser.get(p).text for p in (
            "/h5/patients", "/h5/me", f"/h5/patients/{me['id']}/visit-code",
            f"/h5/patients/{mum['id']}/edit", f"/h5/patients/{me['id']}/access-log")]
        app.call(lambda s: s.notify.dispatch_due())
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return {"responses": responses, "pages": pages, "logs": stream.getvalue(), "me": me,
            "mum": mum}


def test_responses_show_only_masked_values(flow):
    text = "\n".join(flow["responses"])
    assert flow["me"]["name"] == "欧**华" and flow["mum"]["name"] == "林*珍"
    assert flow["mum"]["document_number"] == "E******78"
    for secret in SECRETS:
        assert secret not in text, f"{secret[:2]}… leaked in an API response"


def test_pages_show_only_masked_values(flow):
    html = "\n".join(flow["pages"])
    assert "欧**华" in html and "林*珍" in html and ACCOUNT_PHONE[:3] + "****" in html
    for secret in SECRETS:
        assert secret not in html, f"{secret[:2]}… leaked in a page"


def test_no_collection_holds_plaintext_personal_data(app, flow):
    dumped = {}
    for name in app.db.list_collection_names():
        dumped[name] = json.dumps(list(app.db[name].find({})), default=str, ensure_ascii=False)
    assert {"accounts", "patients", "notify_messages", "audit_log", "login_codes"} <= set(dumped)
    for name, text in dumped.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret[:2]}… stored in clear in {name}"
    patient = app.db.patients.find_one({"relation": "self", "hospital_card_no": "C0099999"})
    assert set(patient["name"]) == {"k", "n", "c"} and set(patient["document_number"]) == {"k", "n", "c"}


def test_logs_of_the_flow_hold_no_plaintext_personal_data(flow):
    logs = flow["logs"]
    assert "/api/v1/patients" in logs          # the capture did see the flow
    for secret in SECRETS:
        assert secret not in logs, f"{secret[:2]}… written to the log"
