"""Issue 22 finding e: staff sessions end on the server — logout, logout everywhere, an
admin's revoke of a colleague — and the staff pages' 退出 button calls it."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.support import staff_client


def sign_in(app, username: str, password: str) -> httpx.Client:
    out = httpx.post(f"{app.url}/api/v1/staff/login", json={"username": username, "password": password})
    assert out.status_code == 200, out.text
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {out.json()['token']}"})


@pytest.fixture
def colleague(app):
    username, password = f"nurse{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    staff_id = app.call(lambda s: s.staff.create_staff(username, "吴护士", ["nurse"], password))
    return {"id": staff_id, "username": username, "password": password}


def test_logout_ends_this_staff_session_only(app, colleague):
    desk, ward = (sign_in(app, colleague["username"], colleague["password"]) for _ in range(2))
    assert desk.post("/api/v1/staff/logout").status_code == 204
    assert desk.get("/api/v1/staff/me").status_code == 401
    assert ward.get("/api/v1/staff/me").status_code == 200


def test_logout_all_ends_every_workstation(app, colleague):
    desks = [sign_in(app, colleague["username"], colleague["password"]) for _ in range(3)]
    out = desks[0].post("/api/v1/staff/logout-all")
    assert out.status_code == 200 and out.json()["sessions_ended"] == 3
    assert all(d.get("/api/v1/staff/me").status_code == 401 for d in desks)


def test_an_admin_revokes_a_colleagues_sessions_and_it_is_audited(app, colleague):
    lost_laptop = sign_in(app, colleague["username"], colleague["password"])
    admin = staff_client(app, "admin", name="管理员甲")
    out = admin.post(f"/api/v1/admin/staff/{colleague['id']}/sessions/revoke")
    assert out.status_code == 200 and out.json()["sessions_ended"] == 1
    assert lost_laptop.get("/api/v1/staff/me").status_code == 401
    entry = app.db.audit_log.find_one({"action": "staff.sessions_revoked",
                                       "details.staff_id": colleague["id"]})
    assert entry is not None and entry["actor_kind"] == "staff"
    assert admin.get("/api/v1/staff/me").status_code == 200       # the admin's own stays


def test_only_an_admin_revokes_and_an_unknown_id_is_404(app, colleague):
    other = sign_in(app, colleague["username"], colleague["password"])
    nurse = staff_client(app, "nurse")
    assert nurse.post(f"/api/v1/admin/staff/{colleague['id']}/sessions/revoke").status_code == 403
    assert other.get("/api/v1/staff/me").status_code == 200
    admin = staff_client(app, "admin")
    for bad in ("6b16ae3fef1c593f5a577ae4", "not-an-id"):
        missing = admin.post(f"/api/v1/admin/staff/{bad}/sessions/revoke")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "staff_not_found"


@pytest.mark.browser
def test_the_station_logout_button_ends_the_session_on_the_server(app, browser, colleague):
    username, password = f"ph{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    app.call(lambda s: s.staff.create_staff(username, "钱药师", ["pharmacist"], password))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(app.url + "/pharmacy/station")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#scan", state="visible")
    token = page.evaluate("sessionStorage.getItem('palm_staff_token')")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/staff/logout")) as ended:
        page.click("#logout")
    assert ended.value.status == 204
    page.wait_for_selector("#login-username", state="visible")
    assert page.evaluate("sessionStorage.getItem('palm_staff_token')") is None
    replayed = httpx.get(f"{app.url}/api/v1/staff/me", headers={"Authorization": f"Bearer {token}"})
    assert replayed.status_code == 401
    context.close()
