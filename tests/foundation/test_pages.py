"""What a patient sees on a phone: the H5 home page and the department guide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("PALM_SCREENSHOT_DIR", "")) if os.environ.get(
    "PALM_SCREENSHOT_DIR") else None


def fits_the_screen(page) -> bool:
    return page.evaluate(
        "document.scrollingElement.scrollWidth <= window.innerWidth")


def snapshot(page, tmp_path: Path, name: str) -> Path:
    """Screenshots go to tmp (or PALM_SCREENSHOT_DIR, to look at them)."""
    path = (SCREENSHOTS or tmp_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_home_page_shows_the_hospital_its_services_and_campuses(seeded_app, phone, tmp_path):
    phone.goto(f"{seeded_app.url}/h5/")
    assert seeded_app.settings.hospital_name in phone.title()
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    hero = phone.locator(".hero")
    assert seeded_app.settings.hospital_name in hero.inner_text()
    assert "总院" in hero.inner_text() and "东院区" in hero.inner_text()
    tiles = phone.locator("nav.grid a.tile")
    assert "科室导航" in tiles.all_inner_texts()[0]
    assert "如遇急危重症请拨打 120" in phone.locator("footer").inner_text()
    assert fits_the_screen(phone)
    # large type for elderly patients: body text at least 16 CSS px, tile titles larger
    body_px = float(phone.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    title_px = float(phone.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.tile .title')).fontSize)"))
    assert body_px >= 16 and title_px > body_px
    snapshot(phone, tmp_path, "home")


def test_every_home_page_link_leads_somewhere(seeded_app, phone):
    phone.goto(f"{seeded_app.url}/h5/")
    hrefs = phone.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs
    for href in hrefs:  # pages behind login lead to the login page
        assert seeded_app.http.get(href, follow_redirects=True).status_code == 200, href


def test_patient_follows_the_department_guide_to_a_doctor_list(seeded_app, phone, tmp_path):
    phone.goto(f"{seeded_app.url}/h5/")
    phone.get_by_text("科室导航").click()
    phone.wait_for_url("**/h5/departments")
    assert phone.locator("h1").inner_text() == "科室导航"
    sections = phone.locator("section.card h2").all_inner_texts()
    assert "内科" in sections and "外科" in sections
    assert fits_the_screen(phone)
    snapshot(phone, tmp_path, "departments")

    phone.get_by_role("link", name="呼吸内科").first.click()
    phone.wait_for_url("**/h5/departments/*")
    assert phone.locator("h1").inner_text() == "呼吸内科"
    doctors = phone.locator("li.doctor")
    assert doctors.count() >= 2
    first = doctors.first.inner_text()
    assert any(title in first for title in ("主任医师", "副主任医师", "主治医师", "住院医师"))
    assert fits_the_screen(phone)
    snapshot(phone, tmp_path, "department")

    phone.get_by_role("link", name="返回首页").click()
    phone.wait_for_url("**/h5/")


def test_unknown_page_is_a_friendly_chinese_404(seeded_app, phone):
    response = phone.goto(f"{seeded_app.url}/h5/departments/0000000000000000deadbeef")
    assert response.status == 404
    assert "页面不存在" in phone.locator("main").inner_text()
    assert fits_the_screen(phone)
