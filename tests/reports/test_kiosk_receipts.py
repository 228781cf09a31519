"""Paid receipts (电子票据) at the kiosk: listed and printed for the session's patient only."""

from __future__ import annotations

import subprocess

import pytest
from bson import ObjectId

from tests.billing.helpers import push_bill, wait_for
from tests.reports.helpers import access_log, family
from tests.support import device_client

COVERED = {"pooled_fen": 6000, "personal_account_fen": 2300, "self_pay_fen": 0}   # paid at once


@pytest.fixture(scope="module")
def world(app):
    his, kiosk = device_client(app, "his", "HIS 接口"), device_client(app, "kiosk", "门诊大厅5号")
    client, _, patient, _ = family(app, name="郑秋菊", sex="female", card_no="880033330001")
    _, _, other, _ = family(app, name="冯某")
    mine = push_bill(his, patient["id"], insurance=COVERED)
    theirs = push_bill(his, other["id"], insurance=COVERED)
    unpaid = push_bill(his, patient["id"])
    for bill in (mine, theirs):
        wait_for(lambda b=bill: app.db.receipts.find_one({"bill_id": ObjectId(b["id"])}))
    token = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880033330001"}).json()["token"]
    return {"kiosk": kiosk, "token": token, "patient": patient, "mine": mine, "theirs": theirs,
            "unpaid": unpaid, "client": client}


def test_the_session_lists_only_this_patients_paid_receipts(app, world):
    headers = {"X-Kiosk-Session": world["token"]}
    listed = world["kiosk"].get("/api/v1/kiosk/receipts", headers=headers)
    assert listed.status_code == 200
    assert [r["bill_id"] for r in listed.json()] == [world["mine"]["id"]]
    assert listed.json()[0]["receipt_no"].startswith("PJ") and listed.json()[0]["amount"].startswith("¥")
    assert world["kiosk"].get("/api/v1/kiosk/receipts").status_code == 422   # no session, nobody
    actions = {e["action"] for e in access_log(app, world["patient"]["id"])}
    assert "kiosk.list_receipts" in actions


def test_the_receipt_prints_as_a_pdf_and_the_read_is_in_the_access_log(app, world, tmp_path):
    headers = {"X-Kiosk-Session": world["token"]}
    response = world["kiosk"].post("/api/v1/kiosk/receipts/print", json={"bill_id": world["mine"]["id"]},
                                   headers=headers)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    receipt = app.db.receipts.find_one({"bill_id": ObjectId(world["mine"]["id"])})
    assert "门诊缴费电子票据" in text and receipt["receipt_no"] in text and "郑*菊" in text
    assert "郑秋菊" not in text
    shown = world["client"].get(f"/api/v1/patients/{world['patient']['id']}/access-log").json()
    assert any(e["action"] == "打印缴费票据" and e["who"] == "自助机 门诊大厅5号" for e in shown)


def test_another_patients_or_an_unpaid_bill_is_not_printed(app, world):
    headers = {"X-Kiosk-Session": world["token"]}
    for bill in (world["theirs"], world["unpaid"]):
        response = world["kiosk"].post("/api/v1/kiosk/receipts/print", json={"bill_id": bill["id"]},
                                       headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "receipt_not_found"
