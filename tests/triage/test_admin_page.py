"""The admins' knowledge-base page in Chromium: add a patient's phrase, see it work, fix a
broken edit from the listed problems, roll back."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("PALM_SCREENSHOTS", "/tmp/palm-screenshots"))
APP_OVERRIDES = {"triage.kb_refresh_seconds": 0}


@pytest.fixture
def page(browser, seeded_app):
    app = seeded_app
    username, password = f"adm{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    app.call(lambda s: s.staff.create_staff(username, "王管理", ["admin"], password))
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(app.url + "/admin/triage")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#active-version:has-text('第 1 版')")
    yield page
    assert problems == []
    context.close()


def triage(app, text: str) -> list[str]:
    return [d["name"] for d in app.http.post("/api/v1/triage", json={"text": text}).json()["departments"]]


def test_admin_adds_a_phrase_fixes_a_bad_edit_and_rolls_back(seeded_app, page):
    app = seeded_app
    assert triage(app, "窜稀") == ["导诊台"]   # not understood: the enquiry desk
    page.select_option("#symptom", "腹泻")
    page.fill("#synonym", "窜稀")
    page.click("#synonym-save")
    page.wait_for_selector("#active-version:has-text('第 2 版')")
    # the notice follows the reloaded version list: wait for it as the admin does
    page.wait_for_selector("#kb-ok:has-text('已保存并启用第 2 版')")
    assert "窜稀" in page.inner_text("#symptom-synonyms")
    assert triage(app, "窜稀")[0] == "消化内科"
    page.fill("#try-text", "窜稀一天")
    page.click("#try-form button")
    page.wait_for_selector("#try-result:has-text('消化内科')")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "admin-triage.png"))

    # a broken edit: the server's problems are listed and nothing changes
    text = page.input_value("#kb-json").replace('"呼吸内科": 1.5', '"不存在的科": 1.5', 1)
    page.eval_on_selector("#kb-json", "(box, text) => { box.value = text; }", text)   # pasted
    page.click("#kb-save")
    page.wait_for_selector("#kb-problems li")
    assert "不存在的科" in page.inner_text("#kb-problems")
    assert page.inner_text("#active-version") == "第 2 版"
    page.fill("#kb-json", "{ not json")
    page.click("#kb-save")
    page.wait_for_selector("#kb-error:has-text('JSON 格式有误')")

    # roll back to the version shipped with the code
    page.click("#versions tr[data-version='1'] button")
    page.wait_for_selector("#active-version:has-text('第 1 版')")
    assert triage(app, "窜稀") == ["导诊台"]   # not understood: the enquiry desk
