"""Expiry is the service's check; the TTL index only collects garbage.

MongoDB's TTL monitor runs about once a minute, by the wall clock, and lags under load, so a
record past its lifetime can still be in the database for a while. Each test here moves the
injected clock past a lifetime and shows the record is refused while its document is still
stored, which is exactly the window in which a TTL-only check would let it through.
"""

from __future__ import annotations

import httpx

from tests.support import login_code_from_inbox, new_phone, sms_login, staff_client

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 3}


def stored_code(app, phone: str) -> dict | None:
    bidx = app.call(lambda s: _blind_index(s, phone))
    return app.db.login_codes.find_one({"_id": bidx})


async def _blind_index(services, phone: str) -> str:
    return services.cipher.blind_index(phone, "phone")


def test_an_expired_login_code_is_refused_while_its_document_is_still_stored(app):
    phone = new_phone()
    assert httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": phone}).status_code == 200
    code = login_code_from_inbox(app, phone)
    app.clock.advance(minutes=5, seconds=1)
    doc = stored_code(app, phone)
    assert doc is not None and doc["code_hash"] is not None   # still there, still unused
    assert doc["expires_at"] < app.clock.now()
    late = httpx.post(f"{app.url}/api/v1/auth/login", json={"phone": phone, "code": code})
    assert late.status_code == 422 and late.json()["error"]["code"] == "code_expired"


def test_an_idle_patient_session_is_refused_while_its_document_is_still_stored(app):
    client, body = sms_login(app)
    account_id = body["account"]["id"]
    app.clock.advance(days=30, seconds=1)
    stored = app.db.sessions.find_one({"kind": "patient", "subject_id": account_id})
    assert stored is not None and stored["expires_at"] < app.clock.now()
    idle = client.get("/api/v1/account")
    assert idle.status_code == 401 and idle.json()["error"]["code"] == "session_invalid"


def test_an_expired_staff_session_is_refused_while_its_document_is_still_stored(app):
    admin = staff_client(app, "admin")
    me = admin.get("/api/v1/staff/me")
    assert me.status_code == 200
    app.clock.advance(hours=12, seconds=1)
    stored = app.db.sessions.find({"kind": "staff"}).sort("created_at", -1).limit(1).next()
    assert stored["expires_at"] < app.clock.now()
    late = admin.get("/api/v1/staff/me")
    assert late.status_code == 401 and late.json()["error"]["code"] == "session_invalid"


def test_a_finished_rate_limit_window_no_longer_counts_while_its_document_is_still_stored(app):
    client = httpx.Client(base_url=app.url, timeout=30.0)
    for _ in range(3):
        assert client.post("/api/v1/auth/sms-code", json={"phone": new_phone()}).status_code == 200
    limited = client.post("/api/v1/auth/sms-code", json={"phone": new_phone()})
    assert limited.status_code == 429
    app.clock.advance(hours=1)
    # the full window's counter is still stored (the TTL index keeps it an hour longer)
    assert app.db.login_limits.find_one({"_id": {"$regex": "^sms_ip:"}, "count": {"$gte": 4}})
    assert client.post("/api/v1/auth/sms-code", json={"phone": new_phone()}).status_code == 200
