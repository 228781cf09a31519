"""Admins edit the triage knowledge base: versions, validation, conflicts, hot reload."""

from __future__ import annotations

import copy

import httpx
import pytest

from tests.harness import AppUnderTest
from tests.support import patient_client, staff_client

APP_OVERRIDES = {"triage.kb_refresh_seconds": 0}
KB = "/api/v1/admin/triage/kb"


@pytest.fixture(scope="module")
def admin(seeded_app) -> httpx.Client:
    return staff_client(seeded_app, "admin", name="王管理")


def top(app, text: str) -> list[str]:
    response = app.http.post("/api/v1/triage", json={"text": text})
    assert response.status_code == 200, response.text
    return [d["name"] for d in response.json()["departments"]]


def test_only_admins_may_read_or_edit_the_knowledge_base(seeded_app):
    assert seeded_app.http.get(KB).status_code == 401
    pharmacist = staff_client(seeded_app, "pharmacist")
    assert pharmacist.get(KB).status_code == 403
    assert pharmacist.put(KB, json={"base_version": 1, "kb": {}}).json()["error"]["code"] == "role_forbidden"
    patient, _ = patient_client(seeded_app)
    assert patient.get(KB).status_code in (401, 403)


def test_the_repository_file_is_version_one_and_active(admin):
    body = admin.get(KB).json()
    assert body["version"] == 1 and body["source"] == "file" and body["active"] is True
    assert "咳嗽" in body["kb"]["symptoms"] and body["kb"]["red_flags"]


def test_an_admins_new_synonym_works_at_once_without_restart(seeded_app, admin):
    assert top(seeded_app, "窜稀") == ["导诊台"]   # not understood yet
    kb = admin.get(KB).json()["kb"]
    kb["symptoms"]["腹泻"]["synonyms"].append("窜稀")
    response = admin.put(KB, json={"base_version": 1, "note": "加“窜稀”", "kb": kb})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.json()["active"] is True
    assert response.json()["created_by"]
    result = seeded_app.http.post("/api/v1/triage", json={"text": "窜稀"}).json()
    assert result["departments"][0]["name"] == "消化内科" and result["kb_version"] == 2


def test_an_invalid_knowledge_base_is_refused_with_its_problems_and_nothing_changes(seeded_app, admin):
    current = admin.get(KB).json()
    kb = copy.deepcopy(current["kb"])
    kb["symptoms"]["咳嗽"]["departments"]["不存在的科"] = 3
    kb["red_flags"][0]["target"] = "火星科"
    response = admin.put(KB, json={"base_version": current["version"], "kb": kb})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "kb_invalid"
    messages = " ".join(d["message"] for d in error["details"])
    assert "不存在的科" in messages and "火星科" in messages
    shape = copy.deepcopy(current["kb"])
    shape["symptoms"]["咳嗽"]["departments"]["呼吸内科"] = "很多"
    del shape["rules"]
    response = admin.put(KB, json={"base_version": current["version"], "kb": shape})
    assert response.status_code == 400 and response.json()["error"]["code"] == "kb_invalid"
    assert len(admin.get(f"{KB}/versions").json()) == 2
    assert admin.get(KB).json()["version"] == current["version"]


def test_a_synonym_claimed_by_two_symptoms_is_refused(admin):
    current = admin.get(KB).json()
    kb = current["kb"]
    kb["symptoms"]["头痛"]["synonyms"].append("拉肚子")
    response = admin.put(KB, json={"base_version": current["version"], "kb": kb})
    assert response.status_code == 400
    assert "拉肚子" in response.json()["error"]["details"][0]["message"]


def test_an_edit_based_on_an_old_version_is_a_conflict(admin):
    kb = admin.get(KB).json()["kb"]
    response = admin.put(KB, json={"base_version": 1, "kb": kb})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "kb_version_conflict"
    assert response.json()["error"]["details"]["active_version"] == 2
    assert len(admin.get(f"{KB}/versions").json()) == 2


def test_another_process_picks_up_the_edit_without_restart(seeded_app, admin):
    other = AppUnderTest(seeded_app.settings).start()
    try:
        assert top(other, "窜稀")[0] == "消化内科"          # the admin version survived a start
        assert len(admin.get(f"{KB}/versions").json()) == 2   # the unchanged file was not re-imported
        assert top(other, "打摆子") == ["导诊台"]
        kb = admin.get(KB).json()["kb"]
        kb["symptoms"]["发热"]["synonyms"].append("打摆子")
        assert admin.put(KB, json={"base_version": 2, "kb": kb}).status_code == 200
        assert top(other, "打摆子")[0] == "呼吸内科"
    finally:
        other.stop(drop=False)


def test_admin_rolls_back_to_the_file_version(seeded_app, admin):
    versions = admin.get(f"{KB}/versions").json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["active"] for v in versions] == [True, False, False]
    assert admin.get(f"{KB}/versions/2").json()["kb"]["symptoms"]["腹泻"]["synonyms"][-1] == "窜稀"
    response = admin.post(f"{KB}/versions/1/activate", json={"base_version": 3})
    assert response.status_code == 200 and response.json()["version"] == 1
    assert top(seeded_app, "窜稀") == ["导诊台"]   # not understood yet
    assert admin.post(f"{KB}/versions/2/activate", json={"base_version": 3}).status_code == 409
    missing = admin.post(f"{KB}/versions/99/activate", json={"base_version": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_version_not_found"
    for missing in ("99", "abc", "1" * 12):
        response = admin.get(f"{KB}/versions/{missing}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "kb_version_not_found"
