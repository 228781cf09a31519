"""POST /api/v1/triage on the demo hospital: what a patient sees, and bad input."""

from __future__ import annotations

import pytest

APP_OVERRIDES = {"triage.department_cache_seconds": 0}


@pytest.fixture(scope="module")
def api(seeded_app):
    return seeded_app


def departments(api) -> dict[str, str]:
    """name → id of every department of the demo hospital."""
    tree = api.http.get("/api/v1/departments").json()
    out = {}
    for top in tree:
        out[top["name"]] = top["id"]
        for child in top["children"]:
            out[child["name"]] = child["id"]
    return out


def triage(api, **body):
    response = api.http.post("/api/v1/triage", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_cough_with_phlegm_and_fever_goes_to_respiratory_with_a_reason(api):
    result = triage(api, text="咳嗽、咳痰，发烧两天", age=35)
    top = result["departments"][0]
    assert result["emergency"] is False and result["red_flags"] == []
    assert top["name"] == "呼吸内科"
    assert top["department_id"] == departments(api)["呼吸内科"]
    assert top["reason"] == "咳嗽、咳痰伴发热 → 呼吸内科"
    assert 0 < top["score"] <= 1
    assert len(result["departments"]) <= 3


def test_the_same_words_for_a_child_go_to_paediatrics(api):
    result = triage(api, text="孩子发烧两天，咳嗽有痰")
    assert result["departments"][0]["name"] == "儿科"
    assert "儿童" in result["departments"][0]["reason"]


def test_chest_pain_with_cold_sweat_is_an_emergency_pointing_at_the_er(api):
    result = triage(api, text="胸口压着疼，出冷汗", age=55, sex="male")
    assert result["emergency"] is True
    assert result["red_flags"][0]["code"] == "chest_pain"
    assert "120" in result["red_flags"][0]["advice"] and "120" in result["advice"]
    first = result["departments"][0]
    # the demo hospital has no 胸痛中心: its 急诊科 stands in
    assert first["name"] == "急诊科" and first["department_id"] == departments(api)["急诊科"]
    assert result["questions"] == []


def test_a_hospital_with_a_chest_pain_centre_gets_the_patient_there(api):
    er = departments(api)["急诊科"]
    from bson import ObjectId
    api.call(lambda s: s.catalogue.upsert_department(
        "ER-CPC", name="胸痛中心", parent_id=ObjectId(er), campus_codes=["main"], intro="", order=99,
        active=True))
    try:
        result = triage(api, text="胸痛，喘不上气")
        assert result["emergency"] is True
        assert result["departments"][0]["name"] == "胸痛中心"
    finally:
        api.db.departments.delete_one({"code": "ER-CPC"})
    assert triage(api, text="胸痛，喘不上气")["departments"][0]["name"] == "急诊科"


def test_a_department_the_hospital_lacks_falls_back_to_its_parent(api):
    result = triage(api, text="尿里有很多泡沫，眼皮浮肿")
    top = result["departments"][0]
    assert top["name"] == "内科" and top["department_id"] == departments(api)["内科"]
    assert "肾内科" in top["reason"]


def test_every_recommendation_points_at_an_existing_department(api):
    known = set(departments(api).values())
    for text in ("乳房有肿块", "腿上的静脉鼓起来", "关节肿痛，早上手指僵硬", "贫血，脸色发白", "头部受伤"):
        for d in triage(api, text=text)["departments"]:
            assert d["department_id"] in known, (text, d)
            assert api.http.get(f"/h5/departments/{d['department_id']}").status_code == 200


def test_negated_symptoms_do_not_count(api):
    result = triage(api, text="嗓子疼，没有咳嗽和发烧")
    assert result["departments"][0]["name"] == "耳鼻咽喉科"
    assert set(result["negated"]) == {"咳嗽", "发热"}
    assert "咳嗽" not in result["symptoms"]


def test_vague_headache_asks_about_fever_and_injury_then_uses_the_answers(api):
    first = triage(api, text="头疼")
    assert [q["id"] for q in first["questions"]] == ["fever", "head_injury"]
    assert {o["value"] for o in first["questions"][0]["options"]} == {"yes", "no"}
    second = triage(api, text="头疼", answers={"fever": "no", "head_injury": "no"})
    assert second["questions"] == []
    assert second["departments"][0]["name"] == "神经内科"
    assert set(second["negated"]) == {"发热", "头部外伤"}


def test_answering_yes_to_sweating_after_chest_pain_raises_the_red_flag(api):
    first = triage(api, text="胸痛")
    assert first["emergency"] is False
    assert "sweating" in [q["id"] for q in first["questions"]]
    second = triage(api, text="胸痛", answers={"sweating": "yes"})
    assert second["emergency"] is True


def test_a_body_part_alone_is_enough_to_start(api):
    result = triage(api, body_parts=["腹部"])
    assert result["departments"][0]["name"] == "消化内科"
    assert len(result["questions"]) <= 2


def test_pregnancy_sends_lower_abdominal_pain_to_obstetrics(api):
    assert triage(api, text="下腹痛", sex="female", age=30, pregnant=True)["departments"][0]["name"] == "产科"
    assert triage(api, text="下腹痛", sex="female", age=30)["departments"][0]["name"] == "妇科"
    male = triage(api, text="下腹痛", sex="male", age=30)["departments"]
    assert male[0]["name"] == "泌尿外科" and "妇科" not in [d["name"] for d in male]


@pytest.mark.parametrize("body, field", [
    ({}, "(body)"),
    ({"text": "   "}, "(body)"),
    ({"text": "下腹痛", "sex": "male", "pregnant": True}, "(body)"),
    ({"text": "头疼", "sex": "man"}, "sex"),
    ({"text": "头疼", "age": -1}, "age"),
    ({"text": "头疼", "age": 200}, "age"),
    ({"text": "头疼", "age": "three"}, "age"),
    ({"text": "头疼", "mood": "bad"}, "mood"),
    ({"text": 42}, "text"),
    ({"text": "头疼", "body_parts": "头部"}, "body_parts"),
])
def test_bad_input_is_a_400_with_the_field(api, body, field):
    response = api.http.post("/api/v1/triage", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
    assert error["details"][0]["field"] == field


def test_unknown_body_part_question_or_answer_are_400s_with_their_own_codes(api):
    cases = [({"body_parts": ["尾巴"]}, "unknown_body_part"),
             ({"text": "头疼", "answers": {"nonsense": "yes"}}, "unknown_question"),
             ({"text": "头疼", "answers": {"fever": "maybe"}}, "invalid_answer"),
             ({"text": "疼" * 501}, "text_too_long")]
    for body, code in cases:
        response = api.http.post("/api/v1/triage", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]


def test_malformed_json_is_a_400(api):
    response = api.http.post("/api/v1/triage", content=b"{text:",
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_triage_is_documented_in_openapi(api):
    doc = api.http.get("/api/openapi.json").json()
    assert "post" in doc["paths"]["/api/v1/triage"]
    assert "TriageOut" in doc["components"]["schemas"]


def test_words_nothing_in_them_understood_still_get_a_best_guess_never_an_empty_answer(api):
    result = triage(api, text="嗯嗯，就是那个，说不好")
    assert result["emergency"] is False
    # the demo hospital has no 全科医学科: the enquiry desk, which cannot be booked
    assert result["departments"] == [{"department_id": None, "name": "导诊台", "score": 0.0,
                                      "fallback": True,
                                      "reason": "未能从描述中判断科室 → 到院后请先到导诊台咨询"}]
    assert result["questions"] and result["questions"][0]["id"] == "where"


def test_a_recognised_complaint_is_not_marked_as_a_fallback(api):
    result = triage(api, text="咳嗽、咳痰，发烧两天", age=35)
    assert result["departments"] and not any(d["fallback"] for d in result["departments"])
