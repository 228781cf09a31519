"""Palm.api in a phone-sized Chromium: a cut network, a reset connection and a gateway's HTML
error page each reach the patient as a plain Chinese sentence, never the browser's own text."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import new_phone

pytestmark = pytest.mark.browser

BROWSER_TEXTS = ("Failed to fetch", "NetworkError", "TypeError", "undefined")


def _send_code(page) -> str:
    page.click("#send-code")
    error = page.locator("#form-error")
    expect(error).not_to_be_empty()
    text = error.inner_text()
    for browser_text in BROWSER_TEXTS:
        assert browser_text not in text
    return text


def test_network_failures_read_as_plain_chinese(app, phone):
    page = phone
    page.goto(f"{app.url}/h5/login")
    page.fill("#phone", new_phone())

    page.context.set_offline(True)
    assert "网络已断开" in _send_code(page)
    assert page.locator("#send-code").is_enabled()         # the patient can try again
    page.context.set_offline(False)

    page.route("**/api/v1/auth/sms-code", lambda route: route.abort("connectionreset"))
    assert "没有连上医院服务器" in _send_code(page)
    page.unroute("**/api/v1/auth/sms-code")

    page.route("**/api/v1/auth/sms-code", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body>Bad Gateway</body></html>"))
    assert "医院服务器暂时无法处理" in _send_code(page)
    page.unroute("**/api/v1/auth/sms-code")

    page.click("#send-code")                               # the real server answers again
    expect(page.locator("#send-code")).to_have_text("60 秒后重发")
    assert page.inner_text("#form-error") == ""


def test_the_servers_own_error_message_is_kept(app, phone):
    page = phone
    page.goto(f"{app.url}/h5/login")
    page.fill("#phone", new_phone())
    page.route("**/api/v1/auth/sms-code", lambda route: route.fulfill(
        status=429, content_type="application/json",
        body='{"error": {"code": "too_many_codes", "message": "验证码发送过于频繁"}}'))
    assert _send_code(page) == "验证码发送过于频繁"


def test_a_pressed_button_says_what_is_happening(app, phone):
    page = phone
    page.goto(f"{app.url}/h5/login")
    page.fill("#phone", new_phone())
    held = []

    def hold(route):   # answered later; a function, as Playwright tags its handlers
        held.append(route)

    page.route("**/api/v1/auth/sms-code", hold)
    page.click("#send-code")
    button = page.locator("#send-code")
    expect(button).to_have_text("正在发送…")
    expect(button).to_have_attribute("aria-busy", "true")
    expect(page.locator("#login-form")).to_have_attribute("aria-busy", "true")
    assert button.is_disabled()
    held[0].continue_()
    expect(button).to_have_text("60 秒后重发")
    assert button.get_attribute("aria-busy") is None
    assert page.locator("#login-form").get_attribute("aria-busy") is None
