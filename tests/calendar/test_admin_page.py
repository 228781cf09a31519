"""The admins' calendar page in Chromium: close a day for the hospital, see it in the list and
the three-month grid, undo it."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from tests.harness import START_DAY

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("PALM_SCREENSHOTS", "/tmp/palm-screenshots"))


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
    page.goto(app.url + "/admin/calendar")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#days .day")
    yield page
    assert problems == []
    context.close()


def test_admin_closes_a_day_and_opens_it_again(seeded_app, page):
    app = seeded_app
    day = START_DAY + timedelta(days=6)
    cell = f"#days .day[data-date='{day}']"
    was_open = "closed" not in page.get_attribute(cell, "class")
    page.click(cell)                                  # picking a day fills the form
    assert page.input_value("#override-date") == day.isoformat()
    page.fill("#override-note", "院庆停诊" if was_open else "节假日门诊")
    page.click("#override-save")
    page.wait_for_selector(f"#overrides tr[data-date='{day}']")
    assert page.inner_text("#cal-ok").startswith(day.isoformat())
    row = page.inner_text(f"#overrides tr[data-date='{day}']")
    assert ("休息" if was_open else "开诊") in row and "王" in row
    classes = page.get_attribute(cell, "class")
    assert "changed" in classes and (("closed" in classes) == was_open)
    stored = app.http.get("/api/v1/calendar", params={"start": day.isoformat(), "days": 1}).json()
    assert stored[0]["open"] is (not was_open) and stored[0]["source"] == "admin"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "admin-calendar.png"), full_page=True)

    years = {d["date"][:4] for d in app.http.get("/api/v1/calendar", params={"days": 92}).json()
             if d["source"] == "fallback"}
    guessed = page.inner_text("#cal-guessed")
    assert all(year in guessed for year in years) and (guessed == "") == (not years)

    page.click(f"#overrides tr[data-date='{day}'] button")
    page.wait_for_selector("#no-overrides:not(.hidden)")
    assert "changed" not in page.get_attribute(cell, "class")
    assert "恢复" in page.inner_text("#cal-ok")
