"""H5 pages in a phone-sized Chromium: login with the code from the dev inbox → add a family
member (inline field errors) → the visit code, renewed before it expires → log out."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import login_code_from_inbox, new_phone, valid_id_number

pytestmark = pytest.mark.browser

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 1000}
SHOTS = Path(os.environ.get("PALM_SCREENSHOTS", "/tmp/palm-screenshots"))


def test_login_add_member_and_show_the_visit_code(app, phone):
    page = phone
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.clock.install()
    page.goto(f"{app.url}/h5/")
    assert page.locator("a.tile[href='/h5/patients']").inner_text().startswith("👪")
    page.click("a.tile[href='/h5/patients']")
    page.wait_for_url(re.compile(r"/h5/login\?next=%2Fh5%2Fpatients"))

    number = new_phone()
    page.fill("#phone", number[:10])                      # one digit short
    page.click("#send-code")
    assert "11 位手机号" in page.inner_text("[data-error-for=phone]")
    page.fill("#phone", number)
    page.click("#send-code")
    expect(page.locator("#send-code")).to_have_text(re.compile("秒后重发"))
    assert page.locator("#send-code").is_disabled()
    assert page.inner_text("#send-code") == "60 秒后重发"
    page.clock.run_for(5000)
    assert page.inner_text("#send-code") == "55 秒后重发"
    code = login_code_from_inbox(app, number)
    page.fill("#code", f"{(int(code) + 1) % 10 ** 6:06d}")
    page.click("#login-submit")
    expect(page.locator("#form-error")).to_contain_text("还可以再试 4 次")
    page.screenshot(path=str(SHOTS / "login.png"), full_page=True)
    page.fill("#code", code)
    page.click("#login-submit")
    page.wait_for_url(f"{app.url}/h5/patients")
    assert "还没有就诊人" in page.inner_text("main")

    page.click("#add-patient")
    page.wait_for_url(f"{app.url}/h5/patients/new")
    good = valid_id_number(date(1988, 5, 20), "female")
    page.fill("#name", "陈思雨")
    page.fill("#document_number", good[:-1] + ("0" if good[-1] != "0" else "1"))
    page.fill("#phone", new_phone())
    page.select_option("#relation", "spouse")
    page.click("#save")
    error = page.locator("[data-error-for=document_number]")
    error.wait_for(state="visible")
    assert "校验位" in error.inner_text()
    assert "invalid" in page.get_attribute("#document_number", "class")
    page.screenshot(path=str(SHOTS / "patient_form_error.png"), full_page=True)
    page.fill("#document_number", good)
    page.click("#save")
    page.wait_for_url(f"{app.url}/h5/patients")
    card = page.locator("li.patient").first
    assert "陈*雨" in card.inner_text() and "配偶" in card.inner_text() and "陈思雨" not in page.content()
    assert good not in page.content()
    page.screenshot(path=str(SHOTS / "patients.png"), full_page=True)

    card.locator("a", has_text="就诊码").click()
    page.wait_for_url(re.compile(r"/h5/patients/[0-9a-f]{24}/visit-code$"))
    first_qr = page.get_attribute("#qr", "src")
    assert first_qr.startswith("data:image/png;base64,")
    assert page.evaluate("document.getElementById('qr').naturalWidth") > 100
    assert page.inner_text("#qr-countdown") == "270"     # renewed 30 s before the 5 minutes end
    page.screenshot(path=str(SHOTS / "visit_code.png"), full_page=True)
    app.clock.advance(seconds=30)                         # the server's time moves on too
    page.clock.run_for(271_000)
    expect(page.locator("#qr")).not_to_have_attribute("src", first_qr)
    page.clock.run_for(1000)
    assert int(page.inner_text("#qr-countdown")) > 260   # a fresh five minutes

    page.goto(f"{app.url}/h5/")
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
    page.goto(f"{app.url}/h5/me")
    page.screenshot(path=str(SHOTS / "me.png"), full_page=True)
    assert number[:3] + "****" + number[-4:] in page.inner_text("#account-phone")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/h5/login"))
    page.goto(f"{app.url}/h5/patients")
    page.wait_for_url(re.compile(r"/h5/login\?next="))


def test_visit_code_tile_without_members_goes_to_add_one(app, phone):
    from tests.support import sms_login
    client, _ = sms_login(app)
    phone.context.add_cookies([{"name": "palm_session", "value": client.cookies["palm_session"],
                                "url": app.url}])
    phone.goto(f"{app.url}/h5/visit-code")
    phone.wait_for_url(f"{app.url}/h5/patients/new")
    assert phone.locator("#name").is_visible()
    phone.select_option("#document_type", "passport")
    assert phone.locator("#birth_date").is_visible()     # passports do not encode birth and sex
