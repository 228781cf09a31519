"""Issue 22 finding h: names with NUL, bidi overrides or zero-width characters, and document
numbers outside their real alphabets, are refused with a clear 400 in Chinese."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support import patient_client, valid_id_number


def body(**fields):
    return {"name": "张三", "document_type": "id_card",
            "document_number": valid_id_number(date(1980, 5, 6)), "phone": "13812345678",
            "relation": "self", **fields}


@pytest.mark.parametrize("name", ["张\x00三", "张三\u202e", "张\u200b三", "\u2066李四\u2069",
                                  "王\ufeff五", "\x1b[31m赵六", "   ", "12345"])
def test_names_with_invisible_or_control_characters_are_refused(app, name):
    client, _ = patient_client(app)
    response = client.post("/api/v1/patients", json=body(name=name))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert any(d["field"] == "name" for d in error["details"]), error


@pytest.mark.parametrize("name", ["欧阳娜娜", "阿依古丽·买买提", "Li Lei", "Zoë O'Neil-Smith"])
def test_real_names_of_any_script_are_accepted(app, name):
    client, _ = patient_client(app)
    response = client.post("/api/v1/patients", json=body(name=name))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("kind,number", [("passport", "<img src=x onerror=alert(1)>"),
                                         ("passport", "E1234 567"), ("hk_macao_permit", "H12-34567"),
                                         ("hk_macao_permit", "12345678")])
def test_document_numbers_outside_their_alphabet_are_refused(app, kind, number):
    client, _ = patient_client(app)
    response = client.post("/api/v1/patients", json=body(
        document_type=kind, document_number=number, sex="female", birth_date="1990-01-02"))
    assert response.status_code == 400, response.text
    assert any(d["field"] == "document_number" for d in response.json()["error"]["details"])


@pytest.mark.parametrize("kind,number", [("passport", "E12345678"), ("passport", "ea1234567"),
                                         ("hk_macao_permit", "H12345678")])
def test_real_passport_and_permit_numbers_are_accepted(app, kind, number):
    client, _ = patient_client(app)
    response = client.post("/api/v1/patients", json=body(
        document_type=kind, document_number=number, sex="female", birth_date="1990-01-02"))
    assert response.status_code == 201, response.text
