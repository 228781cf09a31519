"""Reports pushed by the LIS/PACS and read by patients over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import START_DAY
from tests.reports.helpers import exam, family, lab, messages, new_report_id
from tests.support import device_client, patient_client


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his", "检验科 LIS")


@pytest.fixture(scope="module")
def wang(app):
    return family(app)


def push(his, body, status=200):
    response = his.post("/api/v1/his/reports", json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_lab_report_shows_abnormal_items_first_with_plain_chinese_hints(app, his, wang):
    client, _, patient, _ = wang
    stored = push(his, lab(patient["id"]))
    assert stored["outcome"] == "created" and stored["linked"] is True
    report = client.get(f"/api/v1/reports/{stored['id']}").json()
    assert [i["code"] for i in report["items"]] == ["WBC", "PLT", "HGB", "GLU"]
    wbc, plt, hgb = report["items"][0], report["items"][1], report["items"][2]
    assert (wbc["flag"], wbc["flag_label"], wbc["reference_range"]) == ("H", "偏高", "3.5-9.5")
    assert wbc["hint"] == "比正常参考范围高" and wbc["abnormal"] is True
    assert (plt["flag"], plt["flag_label"], plt["value"]) == ("L", "偏低", "95")
    assert hgb["abnormal"] is False and hgb["flag"] == "N"
    assert report["abnormal_count"] == 2 and report["patient_name"] == "王*国"
    assert report["status_label"] == "已出报告"


def test_patient_list_has_the_report_newest_first(app, his, wang):
    client, _, patient, _ = wang
    earlier = START_DAY - timedelta(days=11)
    older = push(his, lab(patient["id"], reported_at=f"{earlier}T09:00:00+08:00",
                          collected_at=f"{earlier}T08:00:00+08:00"))
    newer = push(his, lab(patient["id"], reported_at=f"{START_DAY}T11:00:00+08:00"))
    listed = client.get("/api/v1/reports", params={"patient_id": patient["id"]}).json()
    ids = [r["id"] for r in listed]
    assert ids.index(newer["id"]) < ids.index(older["id"])
    assert client.get("/api/v1/reports").json() == listed  # whole family = this one member


def test_resending_the_same_report_changes_nothing_and_sends_one_message(app, his, wang):
    _, _, patient, _ = wang
    body = lab(patient["id"])
    first = push(his, body)
    again = push(his, body)
    assert again == {**first, "outcome": "unchanged"}
    assert app.db.reports.count_documents({"source_id": body["report_id"]}) == 1
    ready = [m for m in messages(app, "report_ready")
             if m["dedup_key"].startswith(f"report_ready:{first['id']}")]
    assert len(ready) == 1


def test_report_ready_message_is_sent_when_the_report_becomes_final_with_a_link(app, his):
    client, _, patient, phone = family(app, name="李秀英", sex="female")
    body = lab(patient["id"], status="pending", items=[])
    pending = push(his, body)
    assert messages(app, "report_ready", phone) == []
    assert client.get(f"/api/v1/reports/{pending['id']}").json()["results_available"] is False
    final = push(his, {**lab(patient["id"]), "report_id": body["report_id"]})
    assert final == {**pending, "status": "final", "outcome": "updated"}
    ready = messages(app, "report_ready", phone)
    assert len(ready) == 1
    assert ready[0]["params"]["link"].endswith(f"/h5/reports/{final['id']}")
    assert ready[0]["params"]["patient"] == "李*英"


def test_critical_value_sends_an_urgent_message_at_once_and_only_once(app, his):
    client, _, patient, phone = family(app, name="赵大海")
    items = [{"code": "NA", "name": "钠", "value": "140", "unit": "mmol/L", "reference_range": "137-147"},
             {"code": "K", "name": "钾", "value": "6.9", "unit": "mmol/L", "reference_range": "3.5-5.3",
              "flag": "危急"}]
    body = lab(patient["id"], status="pending", items=items, title="电解质")
    stored = push(his, body)
    critical = messages(app, "critical_value", phone)
    assert len(critical) == 1 and critical[0]["urgent"] is True
    assert "钾 6.9mmol/L" in critical[0]["params"]["item"]
    push(his, {**body, "status": "final"})
    assert len(messages(app, "critical_value", phone)) == 1   # the same value is not told twice
    report = client.get(f"/api/v1/reports/{stored['id']}").json()
    assert report["items"][0]["code"] == "K" and report["items"][0]["flag"] == "HH"
    assert report["items"][0]["flag_label"] == "危急（偏高）" and report["critical_count"] == 1
    worse = [items[0], {**items[1], "value": "7.4"}]
    push(his, {**body, "status": "amended", "items": worse, "amendment_note": "复测"})
    assert len(messages(app, "critical_value", phone)) == 2   # a new critical value is


def test_amended_report_shows_the_latest_with_a_note_and_keeps_the_earlier_version(app, his, wang):
    client, _, patient, _ = wang
    body = lab(patient["id"])
    first = push(his, body)
    changed = [dict(i) for i in body["items"]]
    changed[1] = {**changed[1], "value": "8.1"}   # WBC back to normal after a recount
    amended = push(his, {**body, "status": "amended", "items": changed,
                         "amendment_note": "复核后更正白细胞计数"})
    assert (amended["outcome"], amended["version"], amended["id"]) == ("amended", 2, first["id"])
    report = client.get(f"/api/v1/reports/{first['id']}").json()
    wbc = next(i for i in report["items"] if i["code"] == "WBC")
    assert wbc["value"] == "8.1" and wbc["abnormal"] is False
    assert report["status"] == "amended" and report["version"] == 2
    for words in ("已更正", "第 2 版", "复核后更正白细胞计数"):
        assert words in report["note"]
    assert [v["version"] for v in report["previous_versions"]] == [1]
    stored = app.db.reports.find_one({"source_id": body["report_id"]})
    assert next(i for i in stored["history"][0]["items"] if i["code"] == "WBC")["value"] == "11.2"
    keys = {m["dedup_key"] for m in messages(app, "report_ready")}
    assert {f"report_ready:{first['id']}:v1", f"report_ready:{first['id']}:v2"} <= keys
    late = push(his, body)   # a late copy of the first version changes nothing
    assert late["outcome"] == "unchanged" and late["version"] == 2


def test_a_final_report_changes_only_through_an_amendment(app, his, wang):
    _, _, patient, _ = wang
    body = lab(patient["id"])
    push(his, body)
    changed = {**body, "items": body["items"][:2]}
    response = his.post("/api/v1/his/reports", json=changed)
    assert response.status_code == 409 and response.json()["error"]["code"] == "amendment_required"
    response = his.post("/api/v1/his/reports", json={**body, "status": "pending", "items": []})
    assert response.status_code == 409 and response.json()["error"]["code"] == "report_already_final"


def test_another_accounts_report_is_not_found(app, his, wang):
    _, _, patient, _ = wang
    stored = push(his, lab(patient["id"]))
    stranger, _ = patient_client(app)
    response = stranger.get(f"/api/v1/reports/{stored['id']}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "report_not_found"
    assert stranger.get("/api/v1/reports", params={"patient_id": patient["id"]}).status_code == 404
    assert stranger.get("/api/v1/reports").json() == []
    assert stranger.get("/api/v1/reports/not-an-id").status_code == 404
    assert app.http.get(f"/api/v1/reports/{stored['id']}").status_code == 401


def test_report_sent_with_the_hospital_card_number_reaches_the_patient(app, his):
    client, _, _, _ = family(app, name="孙丽", sex="female", card_no="880012345678")
    body = lab(report_id=new_report_id(), hospital_card_no="880012345678", patient_name="孙丽")
    stored = push(his, body)
    assert stored["linked"] is True
    assert client.get(f"/api/v1/reports/{stored['id']}").status_code == 200
    raw = app.db.reports.find_one({"source_id": body["report_id"]})
    assert "孙丽" not in str(raw) and "880012345678" not in str(raw)  # encrypted at rest


def test_report_for_a_card_not_yet_bound_appears_once_the_card_is_bound(app, his):
    stored = push(his, lab(hospital_card_no="880099990001"))
    assert stored["linked"] is False
    client, _, patient, phone = family(app, name="周强")
    assert client.get("/api/v1/reports").json() == []
    app.call(lambda s: s.identity.bind_hospital_card(patient["id"], "880099990001"))
    assert [r["id"] for r in client.get("/api/v1/reports").json()] == [stored["id"]]
    assert len(messages(app, "report_ready", phone)) == 1


def test_exam_report_shows_findings_and_impression(app, his, wang):
    client, _, patient, _ = wang
    stored = push(his, exam(patient["id"]))
    report = client.get(f"/api/v1/reports/{stored['id']}").json()
    assert report["kind_label"] == "检查" and report["items"] == []
    assert report["exam"]["impression"] == "胸部CT平扫未见明显异常。"
    assert "双肺纹理清晰" in report["exam"]["findings"]


@pytest.mark.parametrize("change, field", [
    ({"items": []}, "(body)"),
    ({"patient_id": None}, "(body)"),
    ({"reported_at": f"{START_DAY}T09:20:00"}, "(body)"),  # no offset
    ({"kind": "xray"}, "kind"),
])
def test_bad_report_is_a_400_with_a_chinese_message_and_nothing_is_stored(app, his, wang, change, field):
    _, _, patient, _ = wang
    body = {**lab(patient["id"]), **change}
    response = his.post("/api/v1/his/reports", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["field"] == field and any("\u4e00" <= c <= "\u9fff" for c in d["message"])
               for d in error["details"]), error
    assert app.db.reports.count_documents({"source_id": body["report_id"]}) == 0


def test_unknown_flag_and_unknown_patient_are_refused(app, his, wang):
    _, _, patient, _ = wang
    body = lab(patient["id"], items=[{"code": "X", "name": "某项", "value": "1", "flag": "??"}])
    response = his.post("/api/v1/his/reports", json=body)
    assert response.status_code == 400 and "无法识别的结果标识" in response.text
    response = his.post("/api/v1/his/reports", json=lab("0" * 24))
    assert response.status_code == 422 and response.json()["error"]["code"] == "patient_unknown"


def test_only_the_his_may_push_reports(app, wang):
    _, _, patient, _ = wang
    kiosk = device_client(app, "kiosk")
    assert kiosk.post("/api/v1/his/reports", json=lab(patient["id"])).status_code == 403
    client = wang[0]
    assert client.post("/api/v1/his/reports", json=lab(patient["id"])).status_code == 401


def test_the_same_report_delivered_eight_times_at_once_is_stored_and_announced_once(app, his):
    from concurrent.futures import ThreadPoolExecutor

    _, _, patient, phone = family(app, name="何平")
    body = lab(patient["id"])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: his.post("/api/v1/his/reports", json=body), range(8)))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sorted(r.json()["outcome"] for r in results) == ["created"] + ["unchanged"] * 7
    assert len({r.json()["id"] for r in results}) == 1
    assert app.db.reports.count_documents({"source_id": body["report_id"]}) == 1
    assert len(messages(app, "report_ready", phone)) == 1


def test_a_report_cannot_silently_move_to_another_patient(app, his, wang):
    _, _, patient, _ = wang
    body = lab(patient["id"])
    push(his, body)
    _, _, other, _ = family(app, name="错某")
    response = his.post("/api/v1/his/reports", json={**body, "patient_id": other["id"], "status": "amended"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "patient_mismatch"
    assert app.db.reports.find_one({"source_id": body["report_id"]})["patient_id"] == patient["id"]
