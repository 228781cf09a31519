"""Family members: ownership, encryption at rest, masking, limits, visit codes."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from bson import ObjectId

from tests.support import add_patient, device_client, new_phone, patient_client, staff_client, valid_id_number


@pytest.fixture(scope="module")
def family(app):
    client, account_id = patient_client(app)
    me = add_patient(app, client, name="王小明", sex="male", birth=date(1980, 3, 4))
    return client, account_id, me


def test_added_member_comes_back_masked_with_birth_and_sex_from_the_id(app, family):
    client, _, me = family
    assert me["name"] == "王*明"
    assert me["document_number"].startswith("3301") and "*" in me["document_number"]
    assert me["phone"][3:7] == "****"
    assert me["birth_date"] == "1980-03-04" and me["sex"] == "male"
    assert me["is_default"] is True and me["real_name_verified"] is True
    assert [p["id"] for p in client.get("/api/v1/patients").json()] == [me["id"]]


def test_no_plaintext_personal_data_in_the_database(app, family):
    client, _, _ = family
    number = valid_id_number(date(1990, 1, 2), "female")
    phone = new_phone()
    response = client.post("/api/v1/patients", json={
        "name": "李秀英", "document_type": "id_card", "document_number": number, "phone": phone,
        "relation": "spouse"})
    assert response.status_code == 201
    raw = json.dumps([d for d in app.db.patients.find({})], default=str, ensure_ascii=False)
    raw += json.dumps([d for d in app.db.accounts.find({})], default=str, ensure_ascii=False)
    for secret in (number, phone, "李秀英", "王小明"):
        assert secret not in raw


def test_another_account_cannot_read_change_or_delete_my_member(app, family):
    _, _, me = family
    other, _ = patient_client(app)
    assert other.get(f"/api/v1/patients/{me['id']}").status_code == 404
    assert other.patch(f"/api/v1/patients/{me['id']}", json={"relation": "other"}).status_code == 404
    assert other.delete(f"/api/v1/patients/{me['id']}").status_code == 404
    assert other.get(f"/api/v1/patients/{me['id']}/visit-code").status_code == 404
    assert other.get("/api/v1/patients").json() == []


def test_without_login_the_family_list_is_401(app):
    response = httpx.get(f"{app.url}/api/v1/patients")
    assert response.status_code == 401 and response.json()["error"]["code"] == "login_required"


def test_same_person_cannot_be_added_twice(app):
    client, _ = patient_client(app)
    body = {"name": "赵六", "document_type": "id_card",
            "document_number": valid_id_number(date(1970, 5, 5)), "phone": new_phone()}
    assert client.post("/api/v1/patients", json=body).status_code == 201
    again = client.post("/api/v1/patients", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "patient_exists"
    # another account may add the same person; this one again after removing them
    other, _ = patient_client(app)
    assert other.post("/api/v1/patients", json=body).status_code == 201
    mine = client.get("/api/v1/patients").json()[0]
    assert client.delete(f"/api/v1/patients/{mine['id']}").status_code == 204
    assert client.post("/api/v1/patients", json=body).status_code == 201
    assert client.post("/api/v1/patients", json=body).status_code == 409


def test_an_older_database_is_migrated_to_the_person_key_index(app):
    """Databases made before `person_key` had a partial unique index on (account, document):
    start-up gives current members their keys, builds the new index and drops the old one."""
    client, _ = patient_client(app)
    member = add_patient(app, client, name="钱旧库", birth=date(1960, 2, 2))
    patients = app.db.patients
    patients.drop_index("one_person_per_account_key")
    patients.update_many({}, {"$unset": {"person_key": ""}})
    patients.create_index([("account_id", 1), ("document_bidx", 1)], unique=True,
                          partialFilterExpression={"deleted": False}, name="one_person_per_account")
    app.call(lambda s: s.identity.ensure_indexes())
    names = {ix["name"] for ix in patients.list_indexes()}
    assert "one_person_per_account_key" in names and "one_person_per_account" not in names
    stored = patients.find_one({"_id": ObjectId(member["id"])})
    assert stored["person_key"] == f"{stored['account_id']}|{stored['document_bidx']}"
    assert patients.count_documents({"deleted": False, "person_key": {"$exists": False}}) == 0
    app.call(lambda s: s.identity.ensure_indexes())         # and again: nothing to do


def test_at_most_five_members_per_account(app):
    client, _ = patient_client(app)
    for i in range(5):
        add_patient(app, client, name=f"成员{i}", birth=date(1960 + i, 1, 1))
    sixth = client.post("/api/v1/patients", json={
        "name": "第六位", "document_type": "id_card",
        "document_number": valid_id_number(date(1999, 9, 9)), "phone": new_phone()})
    assert sixth.status_code == 422 and sixth.json()["error"]["code"] == "patient_limit_reached"
    assert len(client.get("/api/v1/patients").json()) == 5


def test_bad_check_digit_is_a_field_error_in_chinese(app):
    client, _ = patient_client(app)
    good = valid_id_number(date(1988, 8, 8))
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = client.post("/api/v1/patients", json={
        "name": "钱七", "document_type": "id_card", "document_number": bad, "phone": new_phone()})
    assert response.status_code == 400
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "document_number" and "校验位" in detail["message"]
    assert app.db.patients.count_documents({"relation": "self", "sex": None}) == 0


def test_passport_needs_sex_and_birth_date(app):
    client, _ = patient_client(app)
    body = {"name": "Anna Schmidt", "document_type": "passport", "document_number": "C12345678",
            "phone": new_phone(), "relation": "other"}
    assert client.post("/api/v1/patients", json=body).status_code == 400
    ok = client.post("/api/v1/patients", json={**body, "sex": "female", "birth_date": "1992-02-02"})
    assert ok.status_code == 201 and ok.json()["real_name_verified"] is False


def test_default_member_moves_and_delete_frees_a_place(app):
    client, _ = patient_client(app)
    first = add_patient(app, client, name="孙一", birth=date(1950, 1, 1))
    second = add_patient(app, client, name="孙二", birth=date(1951, 1, 1), relation="spouse")
    assert client.patch(f"/api/v1/patients/{second['id']}", json={"is_default": True}).status_code == 200
    listed = client.get("/api/v1/patients").json()
    assert listed[0]["id"] == second["id"] and listed[0]["is_default"] is True
    assert client.delete(f"/api/v1/patients/{first['id']}").status_code == 204
    assert [p["id"] for p in client.get("/api/v1/patients").json()] == [second["id"]]


def test_visit_code_resolves_for_a_kiosk_and_is_audited(app, family):
    client, _, me = family
    code = client.get(f"/api/v1/patients/{me['id']}/visit-code").json()
    assert code["qr_png"].startswith("data:image/png;base64,") and code["expires_in"] == 300
    kiosk = device_client(app, "kiosk")
    resolved = kiosk.post("/api/v1/visit-codes/resolve", json={"token": code["token"]})
    assert resolved.status_code == 200 and resolved.json()["id"] == me["id"]
    entry = app.db.audit_log.find_one({"patient_id": me["id"], "action": "visit_code.resolve"})
    assert entry["actor_kind"] == "device" and entry["actor_id"] == kiosk.key_id


def test_expired_or_tampered_visit_code_is_refused(app, family):
    client, _, me = family
    token = client.get(f"/api/v1/patients/{me['id']}/visit-code").json()["token"]
    nurse = staff_client(app, "nurse")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    bad = nurse.post("/api/v1/visit-codes/resolve", json={"token": tampered})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "visit_code_invalid"
    app.clock.advance(minutes=6)
    try:
        late = nurse.post("/api/v1/visit-codes/resolve", json={"token": token})
        assert late.status_code == 422
    finally:
        app.clock.advance(minutes=-6)


def test_patients_cannot_resolve_visit_codes(app, family):
    client, _, me = family
    token = client.get(f"/api/v1/patients/{me['id']}/visit-code").json()["token"]
    assert client.post("/api/v1/visit-codes/resolve", json={"token": token}).status_code == 401
