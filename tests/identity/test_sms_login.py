"""SMS login: codes through the outbox, one use, expiry, wrong tries, send limits, sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from services.clock import local
from tests.support import login_code_from_inbox, new_phone, sms_login

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 1000}


def send_code(app, phone):
    return httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": phone})


def login(app, phone, code, **extra):
    return httpx.post(f"{app.url}/api/v1/auth/login", json={"phone": phone, "code": code, **extra})


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def test_code_from_the_dev_inbox_logs_in_and_sets_the_h5_cookies(app):
    phone = new_phone()
    sent = send_code(app, phone)
    assert sent.status_code == 200 and sent.json() == {"expires_in": 300, "resend_in": 60}
    code = login_code_from_inbox(app, phone)
    assert len(code) == 6 and code.isdigit()
    item = app.http.get("/dev/inbox", params={"phone": phone}).json()[0]
    assert f"验证码为{code}，5分钟内有效" in item["text"]
    response = login(app, phone, code)
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) >= 43        # 256 random bits, url-safe base64
    assert body["account"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert body["account"]["wechat_bound"] is False
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("palm_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    assert any(c.startswith("_xsrf=") for c in cookies)
    me = httpx.get(f"{app.url}/api/v1/account", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json() == body["account"]


def test_second_login_reaches_the_same_account(app):
    phone = new_phone()
    _, first = sms_login(app, phone)
    app.clock.advance(seconds=61)
    _, second = sms_login(app, phone)
    assert first["account"]["id"] == second["account"]["id"]
    assert first["token"] != second["token"]


def test_code_is_stored_only_as_a_keyed_hash(app):
    phone = new_phone()
    send_code(app, phone)
    code = login_code_from_inbox(app, phone)
    raw = json.dumps(list(app.db.login_codes.find({})), default=str)
    assert code not in raw and phone not in raw


def test_a_code_works_once(app):
    phone = new_phone()
    send_code(app, phone)
    code = login_code_from_inbox(app, phone)
    assert login(app, phone, code).status_code == 200
    again = login(app, phone, code)
    assert again.status_code == 422 and again.json()["error"]["code"] == "code_expired"


def test_five_wrong_tries_kill_the_code(app):
    phone = new_phone()
    send_code(app, phone)
    code = login_code_from_inbox(app, phone)
    for left in (4, 3, 2, 1, 0):
        wrong = login(app, phone, other_code(code))
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "code_invalid"
        assert wrong.json()["error"]["details"]["attempts_left"] == left
    dead = login(app, phone, code)
    assert dead.status_code == 422 and dead.json()["error"]["code"] == "code_expired"


def test_code_expires_after_five_minutes(app):
    phone = new_phone()
    send_code(app, phone)
    code = login_code_from_inbox(app, phone)
    app.clock.advance(minutes=5, seconds=1)
    late = login(app, phone, code)
    assert late.status_code == 422 and late.json()["error"]["code"] == "code_expired"


def test_never_requested_code_is_invalid_and_format_is_checked(app):
    phone = new_phone()
    nothing = login(app, phone, "123456")
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "code_invalid"
    short = login(app, phone, "12345")
    assert short.status_code == 400 and short.json()["error"]["details"][0]["field"] == "code"
    bad_phone = send_code(app, "12345678901")
    assert bad_phone.status_code == 400


def test_one_code_a_minute_per_phone_with_retry_after(app):
    phone = new_phone()
    assert send_code(app, phone).status_code == 200
    first = login_code_from_inbox(app, phone)
    app.clock.advance(seconds=20)
    again = send_code(app, phone)
    assert again.status_code == 429 and again.json()["error"]["code"] == "rate_limited"
    assert 30 <= int(again.headers["Retry-After"]) <= 41
    app.clock.advance(seconds=41)
    assert send_code(app, phone).status_code == 200
    second = login_code_from_inbox(app, phone)
    if second != first:   # the new code replaced the old one
        assert login(app, phone, first).json()["error"]["code"] == "code_invalid"
    assert login(app, phone, second).status_code == 200


def test_ten_codes_a_day_per_phone(app):
    phone = new_phone()
    # start early in a Shanghai day so ten sends a minute apart stay on the same day
    now = app.clock.now()
    start = local(now).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
    app.clock.set(start)
    for _ in range(10):
        assert send_code(app, phone).status_code == 200
        app.clock.advance(seconds=61)
    eleventh = send_code(app, phone)
    assert eleventh.status_code == 429
    assert "明天" in eleventh.json()["error"]["message"]
    assert int(eleventh.headers["Retry-After"]) > 3600 * 10
    app.clock.set(start + timedelta(days=1))
    assert send_code(app, phone).status_code == 200


def test_sessions_slide_while_used_and_expire_when_idle(app):
    client, _ = sms_login(app)
    for _ in range(3):               # 60 days of use, never 30 idle
        app.clock.advance(days=20)
        assert client.get("/api/v1/account").status_code == 200
    app.clock.advance(days=30, seconds=1)
    idle = client.get("/api/v1/account")
    assert idle.status_code == 401 and idle.json()["error"]["code"] == "session_invalid"


def test_logout_ends_this_session_only(app):
    phone = new_phone()
    first, _ = sms_login(app, phone)
    app.clock.advance(seconds=61)
    second, _ = sms_login(app, phone)
    response = first.post("/api/v1/auth/logout")
    assert response.status_code == 204
    assert any(c.startswith(('palm_session=""', "palm_session=;"))
               for c in response.headers.get_list("set-cookie"))
    assert first.get("/api/v1/account").status_code == 401
    assert second.get("/api/v1/account").status_code == 200


def test_logout_all_ends_every_session_of_the_account(app):
    phone = new_phone()
    first, _ = sms_login(app, phone)
    app.clock.advance(seconds=61)
    second, _ = sms_login(app, phone)
    stranger, _ = sms_login(app)
    ended = second.post("/api/v1/auth/logout-all")
    assert ended.status_code == 200 and ended.json()["sessions_ended"] == 2
    assert first.get("/api/v1/account").status_code == 401
    assert second.get("/api/v1/account").status_code == 401
    assert stranger.get("/api/v1/account").status_code == 200


def test_cookie_session_writes_need_the_xsrf_header(app):
    client, _ = sms_login(app)
    del client.headers["Authorization"]           # from now on: the cookie, like a browser
    assert client.get("/api/v1/account").status_code == 200
    body = {"name": "吴一", "document_type": "passport", "document_number": "E98765432",
            "phone": new_phone(), "sex": "male", "birth_date": "1990-01-01"}
    refused = client.post("/api/v1/patients", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "xsrf_invalid"
    xsrf = client.cookies.get("_xsrf")
    allowed = client.post("/api/v1/patients", json=body, headers={"X-XSRFToken": xsrf})
    assert allowed.status_code == 201


def test_wechat_login_is_off_until_configured(app):
    response = httpx.post(f"{app.url}/api/v1/auth/wechat/miniprogram", json={"js_code": "abc"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "wechat_login_disabled"
    page = httpx.get(f"{app.url}/h5/login/wechat")
    assert page.status_code == 422 and "暂未开通微信登录" in page.text
    assert "微信一键登录" not in httpx.get(f"{app.url}/h5/login").text


def test_pages_of_another_accounts_member_are_404_and_anonymous_goes_to_login(app):
    owner, _ = sms_login(app)
    del owner.headers["Authorization"]
    xsrf = {"X-XSRFToken": owner.cookies.get("_xsrf")}
    member = owner.post("/api/v1/patients", headers=xsrf, json={
        "name": "褚一", "document_type": "passport", "document_number": "G11223344",
        "phone": new_phone(), "sex": "female", "birth_date": "1999-09-09"}).json()
    assert owner.get(f"/h5/patients/{member['id']}/visit-code").status_code == 200
    app.clock.advance(seconds=61)
    stranger, _ = sms_login(app)
    del stranger.headers["Authorization"]
    for page in ("edit", "visit-code", "access-log"):
        response = stranger.get(f"/h5/patients/{member['id']}/{page}")
        assert response.status_code == 404 and "褚" not in response.text
    anonymous = httpx.get(f"{app.url}/h5/patients/{member['id']}/visit-code")
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith("/h5/login?next=%2Fh5%2Fpatients%2F")
