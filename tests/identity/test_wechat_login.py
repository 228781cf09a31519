"""WeChat login against a local server speaking WeChat's protocol: H5 OAuth2 (snsapi_base)
and mini-program jscode2session; an openid binds to the account that first logs in by phone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from server.embedded_db import free_port
from tests.identity.fake_wechat import FakeWechat
from tests.support import add_patient, login_code_from_inbox, new_phone

OFFICIAL = ("wx0fficial0000001", "official-secret-123")
MINI = ("wxm1n1pr0gram0001", "mini-secret-456")
PORT = free_port()

APP_OVERRIDES = {
    "identity.wechat_authorize_url": f"http://127.0.0.1:{PORT}/connect/oauth2/authorize",
    "identity.wechat_api_base": f"http://127.0.0.1:{PORT}",
    "identity.wechat_official_appid": OFFICIAL[0],
    "identity.wechat_official_secret": OFFICIAL[1],
    "identity.wechat_miniprogram_appid": MINI[0],
    "identity.wechat_miniprogram_secret": MINI[1],
    "identity.sms_sends_per_ip_per_hour": 1000,
}


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat(PORT, dict([OFFICIAL, MINI])).start()
    yield fake
    fake.stop()


def browser_client(app) -> httpx.Client:
    return httpx.Client(base_url=app.url, timeout=30.0, follow_redirects=True)


def phone_login(app, client, phone, **extra):
    assert client.post("/api/v1/auth/sms-code", json={"phone": phone}).status_code == 200
    code = login_code_from_inbox(app, phone)
    return client.post("/api/v1/auth/login", json={"phone": phone, "code": code, **extra})


def test_h5_first_visit_asks_for_the_phone_then_wechat_alone_logs_in(app, wechat):
    wechat.current_user = "h5-user-1"
    first = browser_client(app)
    page = first.get("/h5/login/wechat", params={"next": "/h5/patients"})
    # WeChat's authorize page redirected back; an unknown openid lands on the phone login
    assert page.status_code == 200 and urlsplit(str(page.url)).path == "/h5/login"
    assert parse_qs(urlsplit(str(page.url)).query) == {"next": ["/h5/patients"], "wechat": ["1"]}
    assert "首次使用微信登录" in page.text
    assert "/connect/oauth2/authorize" in wechat.requests
    phone = new_phone()
    login = phone_login(app, first, phone)     # the ticket travels in its HttpOnly cookie
    assert login.status_code == 200 and login.json()["account"]["wechat_bound"] is True
    account_id = login.json()["account"]["id"]

    again = browser_client(app)                # another day, a fresh browser in WeChat
    landed = again.get("/h5/login/wechat", params={"next": "/h5/patients"})
    assert landed.status_code == 200 and urlsplit(str(landed.url)).path == "/h5/patients"
    assert "我的就诊人" in landed.text
    me = again.get("/api/v1/account")
    assert me.status_code == 200 and me.json()["id"] == account_id


def test_miniprogram_binds_on_first_phone_login_then_recognises_the_account(app, wechat):
    client = browser_client(app)
    unknown = client.post("/api/v1/auth/wechat/miniprogram",
                          json={"js_code": wechat.issue_code(MINI[0], "mini-user-1")})
    body = unknown.json()
    assert unknown.status_code == 200 and body["bound"] is False and body["token"] is None
    assert "session_key" not in unknown.text
    phone = new_phone()
    login = phone_login(app, client, phone, wechat_ticket=body["wechat_ticket"])
    assert login.status_code == 200 and login.json()["account"]["wechat_bound"] is True
    known = client.post("/api/v1/auth/wechat/miniprogram",
                        json={"js_code": wechat.issue_code(MINI[0], "mini-user-1")})
    assert known.json()["bound"] is True
    assert known.json()["account"]["id"] == login.json()["account"]["id"]
    token = known.json()["token"]
    assert httpx.get(f"{app.url}/api/v1/account",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200
    binding = app.db.wechat_bindings.find_one({"appid": MINI[0]})
    assert binding["account_id"] == login.json()["account"]["id"]


def test_used_expired_or_made_up_codes_are_422(app, wechat):
    code = wechat.issue_code(MINI[0], "mini-user-2")
    assert httpx.post(f"{app.url}/api/v1/auth/wechat/miniprogram", json={"js_code": code}).status_code == 200
    reused = httpx.post(f"{app.url}/api/v1/auth/wechat/miniprogram", json={"js_code": code})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "wechat_code_invalid"
    made_up = httpx.post(f"{app.url}/api/v1/auth/wechat/miniprogram", json={"js_code": "nope"})
    assert made_up.status_code == 422 and made_up.json()["error"]["details"]["errcode"] == 40029


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (-1, 503, "wechat_busy"), (45011, 503, "wechat_busy"), (40226, 403, "wechat_user_blocked"),
    (40125, 503, "wechat_unavailable"),
])
def test_wechat_errcodes_become_clear_errors(app, wechat, errcode, status, code):
    wechat.fail_next = errcode
    response = httpx.post(f"{app.url}/api/v1/auth/wechat/miniprogram",
                          json={"js_code": wechat.issue_code(MINI[0], "mini-user-3")})
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_forged_state_on_the_callback_logs_nobody_in(app, wechat):
    client = browser_client(app)
    code = wechat.issue_code(OFFICIAL[0], "h5-user-1")   # a bound user's code, stolen
    response = client.get("/h5/login/wechat/callback", params={"code": code, "state": "forged"})
    assert urlsplit(str(response.url)).path == "/h5/login"
    assert "palm_session" not in client.cookies
    assert wechat.codes[code]["used"] is False             # never even exchanged


def test_snapshot_page_users_are_not_bound(app, wechat):
    wechat.snapshot = True
    wechat.current_user = "snapshot-user"
    try:
        page = browser_client(app).get("/h5/login/wechat", params={"next": "/h5/"})
    finally:
        wechat.snapshot = False
    assert page.status_code == 422 and "使用完整服务" in page.text


def test_tampered_ticket_is_refused_before_the_code_is_spent(app, wechat):
    client = browser_client(app)
    ticket = client.post("/api/v1/auth/wechat/miniprogram", json={
        "js_code": wechat.issue_code(MINI[0], "mini-user-4")}).json()["wechat_ticket"]
    phone = new_phone()
    assert client.post("/api/v1/auth/sms-code", json={"phone": phone}).status_code == 200
    code = login_code_from_inbox(app, phone)
    forged = client.post("/api/v1/auth/login", json={"phone": phone, "code": code,
                                                     "wechat_ticket": ticket[:-2] + "xx"})
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "wechat_ticket_invalid"
    plain = client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert plain.status_code == 200 and plain.json()["account"]["wechat_bound"] is False


def test_authorize_redirect_is_silent_base_scope_with_state(app, wechat):
    response = httpx.get(f"{app.url}/h5/login/wechat", params={"next": "https://evil.example/"})
    location = response.headers["location"]
    assert response.status_code == 302 and location.endswith("#wechat_redirect")
    query = parse_qs(urlsplit(location).query)
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [OFFICIAL[0]]
    assert query["redirect_uri"][0].endswith("/h5/login/wechat/callback")
    assert len(query["state"][0]) == 32
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("palm_oauth="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_after_wechat_the_browser_only_returns_to_our_own_pages(app, wechat):
    wechat.current_user = "h5-user-open-redirect"
    page = browser_client(app).get("/h5/login/wechat", params={"next": "https://evil.example/"})
    assert urlsplit(str(page.url)).netloc == urlsplit(app.url).netloc
    assert parse_qs(urlsplit(str(page.url)).query)["next"] == ["/h5/"]


def test_a_stale_wechat_cookie_does_not_block_the_phone_login(app, wechat):
    wechat.current_user = "h5-user-slow"
    client = browser_client(app)
    client.get("/h5/login/wechat", params={"next": "/h5/"})
    assert "palm_wechat_ticket" in client.cookies
    app.clock.advance(minutes=11)                        # the ticket lives 10 minutes
    login = phone_login(app, client, new_phone())
    assert login.status_code == 200 and login.json()["account"]["wechat_bound"] is False
    assert "palm_wechat_ticket" not in client.cookies


def test_messages_use_each_apps_own_openid(app, wechat):
    """An account bound in both the mini program and the 公众号 has two openids; each is
    valid only in its own app, so subscribe messages get one and template messages the other."""
    client = browser_client(app)
    phone = new_phone()
    unknown = client.post("/api/v1/auth/wechat/miniprogram",
                          json={"js_code": wechat.issue_code(MINI[0], "mini-user-both")}).json()
    login = phone_login(app, client, phone, wechat_ticket=unknown["wechat_ticket"])
    assert login.status_code == 200
    wechat.current_user = "h5-user-both"
    app.clock.advance(minutes=2)                       # a new code may be sent a minute later
    h5 = browser_client(app)
    h5.get("/h5/login/wechat", params={"next": "/h5/patients"})
    assert phone_login(app, h5, phone).json()["account"]["id"] == login.json()["account"]["id"]

    member = add_patient(app, bearer(app, login.json()["token"]), name="钱双号", phone=phone)
    contact = app.call(lambda s: s.identity.contact_for_patient(member["id"]))
    bindings = {b["appid"]: b["openid"] for b in app.db.wechat_bindings.find(
        {"account_id": login.json()["account"]["id"]})}
    assert set(bindings) == {MINI[0], OFFICIAL[0]}
    assert contact.openid == bindings[MINI[0]]
    assert contact.official_openid == bindings[OFFICIAL[0]]
    assert contact.openid != contact.official_openid and contact.phone == phone


def bearer(app, token: str) -> httpx.Client:
    return httpx.Client(base_url=app.url, timeout=30.0, headers={"Authorization": f"Bearer {token}"})
