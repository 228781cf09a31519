"""Hospital cards pushed by the HIS, and the patient's view of who accessed their data."""

from __future__ import annotations

from datetime import date

import httpx

from tests.support import (
    add_patient,
    device_client,
    new_phone,
    patient_client,
    staff_client,
    valid_id_number,
)


def bind(his, number, name, card_no, document_type="id_card"):
    return his.post("/api/v1/his/patients/bind-card", json={
        "document_type": document_type, "document_number": number, "name": name, "card_no": card_no})


def member(client, name, number, relation="parent"):
    response = client.post("/api/v1/patients", json={
        "name": name, "document_type": "id_card", "document_number": number,
        "phone": new_phone(), "relation": relation})
    assert response.status_code == 201, response.text
    return response.json()


def test_his_card_binds_to_the_person_in_every_family_that_added_them(app):
    number = valid_id_number(date(1950, 2, 3), "female")
    son, _ = patient_client(app)
    daughter, _ = patient_client(app)
    in_son = member(son, "林秀兰", number)
    in_daughter = member(daughter, "林秀兰", number)
    his = device_client(app, "his", name="HIS")
    response = bind(his, number, "林秀兰", "C0012345")
    assert response.status_code == 200
    assert response.json() == {"card_no": "C0012345", "bound": 2, "remembered": True}
    for client, record in ((son, in_son), (daughter, in_daughter)):
        got = client.get(f"/api/v1/patients/{record['id']}").json()
        assert got["hospital_card_no"] == "C0012345" and got["real_name_verified"] is True
    found = app.call(lambda s: s.identity.find_patient_by_card("C0012345"))
    assert found is not None and found.name == "林秀兰"


def test_a_different_name_binds_nothing(app):
    number = valid_id_number(date(1961, 4, 5))
    client, _ = patient_client(app)
    record = member(client, "郑国强", number)
    response = bind(device_client(app, "his"), number, "郑国墙", "C0020000")
    assert response.status_code == 200 and response.json()["bound"] == 0
    assert client.get(f"/api/v1/patients/{record['id']}").json()["hospital_card_no"] is None


def test_a_member_added_after_the_his_knew_them_gets_the_card(app):
    number = valid_id_number(date(1979, 9, 9))
    assert bind(device_client(app, "his"), number, "何小东", "C0030000").json()["bound"] == 0
    client, _ = patient_client(app)
    record = member(client, "何小东", number, relation="self")
    assert record["hospital_card_no"] == "C0030000" and record["real_name_verified"] is True


def test_a_card_of_another_person_is_a_conflict(app):
    his = device_client(app, "his")
    assert bind(his, valid_id_number(date(1980, 1, 1)), "甲一", "C0040000").status_code == 200
    other = bind(his, valid_id_number(date(1981, 1, 1)), "乙二", "C0040000")
    assert other.status_code == 409 and other.json()["error"]["code"] == "card_in_use"


def test_only_the_his_may_bind_cards(app):
    body = {"document_type": "id_card", "document_number": valid_id_number(date(1990, 1, 1)),
            "name": "丙三", "card_no": "C0050000"}
    patient, _ = patient_client(app)
    assert patient.post("/api/v1/his/patients/bind-card", json=body).status_code == 401
    kiosk = device_client(app, "kiosk")
    assert kiosk.post("/api/v1/his/patients/bind-card", json=body).status_code == 403
    good = body["document_number"]
    wrong_check_digit = good[:-1] + ("0" if good[-1] != "0" else "1")
    bad = device_client(app, "his").post("/api/v1/his/patients/bind-card",
                                         json={**body, "document_number": wrong_check_digit})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "document_number"


def test_access_log_shows_who_scanned_the_visit_code_masked(app):
    client, _ = patient_client(app)
    me = add_patient(app, client, name="宋美华", sex="female", birth=date(1975, 7, 7))
    assert client.get(f"/api/v1/patients/{me['id']}/access-log").json() == []
    token = client.get(f"/api/v1/patients/{me['id']}/visit-code").json()["token"]
    nurse = staff_client(app, "nurse", name="周小红")
    assert nurse.post("/api/v1/visit-codes/resolve", json={"token": token}).status_code == 200
    app.clock.advance(minutes=1)
    kiosk = device_client(app, "kiosk", name="门诊大厅2号")
    assert kiosk.post("/api/v1/visit-codes/resolve", json={"token": token}).status_code == 200
    log = client.get(f"/api/v1/patients/{me['id']}/access-log").json()
    assert [e["who"] for e in log] == ["自助机 门诊大厅2号", "护士 周*红"]
    assert all(e["action"] == "扫描就诊码识别身份" for e in log)
    assert log[0]["at"] > log[1]["at"]


def test_access_log_of_another_account_is_404(app):
    owner, _ = patient_client(app)
    record = add_patient(app, owner, name="冯一")
    stranger, _ = patient_client(app)
    response = stranger.get(f"/api/v1/patients/{record['id']}/access-log")
    assert response.status_code == 404 and response.json()["error"]["code"] == "patient_not_found"
    assert httpx.get(f"{app.url}/api/v1/patients/{record['id']}/access-log").status_code == 401


def test_a_replayed_or_tampered_his_request_is_refused(app):
    his = device_client(app, "his")
    captured = {}
    his.event_hooks["request"] = [lambda r: captured.update(headers=dict(r.headers), body=r.content)]
    body = {"document_type": "id_card", "document_number": valid_id_number(date(1992, 2, 2)),
            "name": "卫二", "card_no": "C0060000"}
    assert his.post("/api/v1/his/patients/bind-card", json=body).status_code == 200
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in ("content-length", "host")}
    replay = httpx.post(f"{app.url}/api/v1/his/patients/bind-card", content=captured["body"], headers=headers)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "signature_replayed"
    headers["X-Palm-Nonce"] = "a-fresh-nonce-000"
    tampered = httpx.post(f"{app.url}/api/v1/his/patients/bind-card", headers=headers,
                          json={**body, "card_no": "C0069999"})
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "signature_invalid"
