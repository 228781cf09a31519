"""Brute force on login codes is stopped per IP as well as per phone and per code."""

from __future__ import annotations

import httpx

from tests.support import login_code_from_inbox, new_phone

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 3,
                 "identity.login_failures_per_ip_per_hour": 6}


def test_one_ip_cannot_request_codes_for_many_phones(app):
    app.clock.advance(hours=1)
    for _ in range(3):
        assert httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()}).status_code == 200
    fourth = httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()})
    assert fourth.status_code == 429 and fourth.json()["error"]["code"] == "rate_limited"
    assert 0 < int(fourth.headers["Retry-After"]) <= 3601
    app.clock.advance(hours=1)
    assert httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()}).status_code == 200


def test_guessing_codes_across_phones_locks_the_ip_out(app):
    app.clock.advance(hours=1)
    phone = new_phone()
    assert httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": phone}).status_code == 200
    code = login_code_from_inbox(app, phone)
    for _ in range(6):
        guess = httpx.post(f"{app.url}/api/v1/auth/login", json={"phone": new_phone(), "code": "000000"})
        assert guess.status_code == 422
    locked = httpx.post(f"{app.url}/api/v1/auth/login", json={"phone": phone, "code": code})
    assert locked.status_code == 429 and "登录失败次数过多" in locked.json()["error"]["message"]
    assert int(locked.headers["Retry-After"]) > 0


def test_behind_the_trusted_proxy_each_patient_has_their_own_allowance(app):
    """The default trusts a proxy on this machine (loopback): its X-Real-Ip names the patient."""
    app.clock.advance(hours=1)
    for _ in range(3):
        assert httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()},
                          headers={"X-Real-Ip": "198.51.100.7"}).status_code == 200
    blocked = httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()},
                         headers={"X-Real-Ip": "198.51.100.7"})
    assert blocked.status_code == 429
    other = httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()},
                       headers={"X-Real-Ip": "198.51.100.8"})
    assert other.status_code == 200

