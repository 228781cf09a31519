"""Staff roles and lockout; device signatures (replay, tamper, stale)."""

from __future__ import annotations

import httpx

from tests.support import device_client, staff_client


def test_staff_login_and_me(app):
    nurse = staff_client(app, "nurse", name="周护士")
    me = nurse.get("/api/v1/staff/me").json()
    assert me["roles"] == ["nurse"] and me["name"] == "周护士"


def test_wrong_passwords_lock_the_account(app):
    app.call(lambda s: s.staff.create_staff("locky", "锁定测试", ["doctor"], "correct-horse-1"))
    for _ in range(5):
        r = httpx.post(f"{app.url}/api/v1/staff/login",
                       json={"username": "locky", "password": "wrong-guess!"})
        assert r.status_code == 401
    locked = httpx.post(f"{app.url}/api/v1/staff/login",
                        json={"username": "locky", "password": "correct-horse-1"})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "account_locked"
    assert int(locked.headers["Retry-After"]) > 0
    app.clock.advance(minutes=16)
    try:
        ok = httpx.post(f"{app.url}/api/v1/staff/login",
                        json={"username": "locky", "password": "correct-horse-1"})
        assert ok.status_code == 200
    finally:
        app.clock.advance(minutes=-16)


def test_password_hash_is_slow_and_salted(app):
    doc = app.db.staff.find_one({"username": "locky"})
    assert doc["password"].startswith("scrypt$16384$") and "correct-horse-1" not in doc["password"]


def test_replayed_device_request_is_refused(app):
    kiosk = device_client(app, "kiosk")
    captured = {}

    def remember(request):
        captured["headers"] = dict(request.headers)
        captured["body"] = request.content

    kiosk.event_hooks["request"] = [remember]
    first = kiosk.post("/api/v1/visit-codes/resolve", json={"token": "x.y"})
    assert first.status_code == 422  # authenticated, then the code is invalid
    replay = httpx.post(f"{app.url}/api/v1/visit-codes/resolve", content=captured["body"],
                        headers={k: v for k, v in captured["headers"].items()
                                 if k.lower() not in ("content-length", "host")})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "signature_replayed"


def test_tampered_body_or_wrong_secret_is_refused(app):
    kiosk = device_client(app, "kiosk")
    captured = {}
    kiosk.event_hooks["request"] = [lambda r: captured.update(headers=dict(r.headers))]
    kiosk.post("/api/v1/visit-codes/resolve", json={"token": "a.b"})
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in ("content-length", "host")}
    headers["X-Palm-Nonce"] = "another-nonce-123"
    tampered = httpx.post(f"{app.url}/api/v1/visit-codes/resolve", json={"token": "c.d"}, headers=headers)
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "signature_invalid"


def test_stale_timestamp_is_refused(app):
    kiosk = device_client(app, "kiosk")
    auth = kiosk.auth
    auth.now = lambda: app.clock.now().timestamp() - 600
    stale = kiosk.post("/api/v1/visit-codes/resolve", json={"token": "a.b"})
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "signature_expired"


def test_device_of_another_kind_is_forbidden_and_unsigned_is_401(app):
    his = device_client(app, "his")
    assert his.post("/api/v1/visit-codes/resolve", json={"token": "a.b"}).status_code == 422
    unsigned = httpx.post(f"{app.url}/api/v1/visit-codes/resolve", json={"token": "a.b"},
                          headers={"X-Palm-Key-Id": "kiosk-unknown"})
    assert unsigned.status_code == 401
