"""The H5 triage page in a phone-sized Chromium: an ordinary case, a follow-up, an emergency."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("PALM_SCREENSHOTS", "/tmp/palm-screenshots"))


@pytest.fixture(scope="module")
def site(seeded_app):
    return seeded_app


def test_home_page_has_the_triage_tile(site, phone):
    phone.goto(f"{site.url}/h5/")
    tile = phone.locator("a.tile[href='/h5/triage']")
    assert "智能导诊" in tile.inner_text()
    tile.click()
    phone.wait_for_url("**/h5/triage")


def test_patient_describes_a_cough_and_books_respiratory_medicine(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.fill("#triage-text", "咳嗽咳痰，发烧两天")
    phone.locator("summary").click()
    phone.fill("#triage-age", "35")
    phone.get_by_role("button", name="帮我选科室").click()
    pick = phone.locator(".pick").first
    pick.wait_for()
    assert pick.locator(".name").inner_text() == "呼吸内科"
    assert "咳嗽、咳痰伴发热" in pick.locator(".reason").inner_text()
    assert phone.locator("#emergency").is_hidden()
    SHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SHOTS / "triage-ordinary.png"), full_page=True)
    pick.get_by_role("link", name="预约挂号").click()
    phone.wait_for_url("**/h5/departments/*")
    assert "呼吸内科" in phone.locator("h1").inner_text()


def test_a_vague_headache_is_narrowed_down_by_tapping_answers(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.fill("#triage-text", "头疼")
    phone.get_by_role("button", name="帮我选科室").click()
    question = phone.locator(".bubble.question").first
    question.wait_for()
    assert "发烧" in question.inner_text()
    question.get_by_role("button", name="没有发烧").click()
    phone.locator(".bubble.user", has_text="没有发烧").wait_for()
    injury = phone.locator(".bubble.question", has_text="摔伤").last
    injury.get_by_role("button", name="没有外伤").click()
    phone.locator(".understood", has_text="已排除：发热、头部外伤").wait_for()
    assert phone.locator(".pick .name").last.inner_text() == "神经内科"


def test_chest_pain_with_sweating_raises_the_emergency_banner_with_a_120_link(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.fill("#triage-text", "胸口压着疼，出冷汗")
    phone.get_by_role("button", name="帮我选科室").click()
    banner = phone.locator("#emergency")
    banner.wait_for(state="visible")
    assert "心梗" in banner.inner_text()
    call = phone.locator("#call-120")
    assert call.get_attribute("href") == "tel:120" and call.is_visible()
    # the banner sits above the conversation and the form
    assert banner.bounding_box()["y"] < phone.locator("#chat").bounding_box()["y"]
    assert phone.locator(".pick .name").first.inner_text() == "急诊科"
    phone.screenshot(path=str(SHOTS / "triage-emergency.png"), full_page=False)


def test_the_page_explains_bad_input_in_chinese(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.get_by_role("button", name="帮我选科室").click()
    error = phone.locator("#triage-error")
    error.wait_for(state="visible")
    assert "描述" in error.inner_text()


def test_tapping_a_body_part_offers_its_symptoms(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.locator(".chip.part", has_text="咽喉").click()
    phone.locator("#part-symptoms .chip", has_text="咽痛").click()
    assert phone.input_value("#triage-text") == "咽痛"
    phone.get_by_role("button", name="帮我选科室").click()
    phone.locator(".pick").first.wait_for()
    assert phone.locator(".pick .name").first.inner_text() == "耳鼻咽喉科"


def test_words_not_understood_point_at_the_enquiry_desk_without_a_booking_button(site, phone):
    phone.goto(f"{site.url}/h5/triage")
    phone.fill("#triage-text", "嗯嗯，就是那个，说不好")
    phone.get_by_role("button", name="帮我选科室").click()
    pick = phone.locator(".pick").first
    pick.wait_for()
    assert pick.locator(".name").inner_text() == "导诊台"
    assert pick.get_by_role("link", name="预约挂号").count() == 0
    assert phone.locator(".bubble.question").first.is_visible()     # and the body-part question
