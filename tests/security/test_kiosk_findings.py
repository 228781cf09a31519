"""Issue 22 findings d and m, reproduced as the probe saw them, then closed.

d: a kiosk key alone read any patient's receipt by bill id — now the bill must belong to
   the open kiosk session's patient, as the print route already required.
m: one visit code (就诊码) opened any number of kiosk sessions during its 5 minutes — now
   a code opens one session; a photographed code cannot print the reports again.
"""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.billing.helpers import push_bill, wait_for
from tests.reports.helpers import family
from tests.support import device_client

COVERED = {"pooled_fen": 6000, "personal_account_fen": 2300, "self_pay_fen": 0}   # paid at once


@pytest.fixture(scope="module")
def world(app):
    his, kiosk = device_client(app, "his", "HIS 接口"), device_client(app, "kiosk", "门诊大厅7号")
    client, _, patient, _ = family(app, name="郑秋菊", sex="female", card_no="880077770001")
    _, _, other, _ = family(app, name="冯某")
    mine = push_bill(his, patient["id"], insurance=COVERED)
    theirs = push_bill(his, other["id"], insurance=COVERED)
    for bill in (mine, theirs):
        wait_for(lambda b=bill: app.db.receipts.find_one({"bill_id": ObjectId(b["id"])}))
    token = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880077770001"}).json()["token"]
    return {"kiosk": kiosk, "token": token, "client": client, "patient": patient,
            "mine": mine, "theirs": theirs}


def test_d_a_kiosk_key_without_a_session_reads_no_receipt(world):
    response = world["kiosk"].get(f"/api/v1/kiosk/bills/{world['theirs']['id']}/receipt")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "kiosk_session_invalid"


def test_d_the_session_reads_its_own_patients_receipt_and_not_anothers(world):
    headers = {"X-Kiosk-Session": world["token"]}
    own = world["kiosk"].get(f"/api/v1/kiosk/bills/{world['mine']['id']}/receipt", headers=headers)
    assert own.status_code == 200 and own.json()["patient_name"] == "郑*菊"
    other = world["kiosk"].get(f"/api/v1/kiosk/bills/{world['theirs']['id']}/receipt", headers=headers)
    assert other.status_code == 404 and other.json()["error"]["code"] == "receipt_not_found"
    assert "items" not in other.json()


def test_m_a_visit_code_opens_one_kiosk_session(app, world):
    code = world["client"].get(f"/api/v1/patients/{world['patient']['id']}/visit-code").json()["token"]
    first = world["kiosk"].post("/api/v1/kiosk/sessions", json={"visit_code": code})
    assert first.status_code in (200, 201), first.text
    other_kiosk = device_client(app, "kiosk", "门诊大厅8号")
    for kiosk in (world["kiosk"], other_kiosk):
        again = kiosk.post("/api/v1/kiosk/sessions", json={"visit_code": code})
        assert again.status_code == 422, again.text
        assert again.json()["error"]["code"] == "visit_code_used"
        assert "刷新" in again.json()["error"]["message"]
    app.clock.advance(seconds=30)              # the phone refreshes its code (a new expiry)
    fresh = world["client"].get(f"/api/v1/patients/{world['patient']['id']}/visit-code").json()["token"]
    assert world["kiosk"].post("/api/v1/kiosk/sessions", json={"visit_code": fresh}).status_code in (200, 201)


def test_m_the_code_still_resolves_for_staff_at_the_counter(app, world):
    """Single use is the kiosk's rule; a nurse reading the code at the desk is not a session."""
    app.clock.advance(seconds=30)
    code = world["client"].get(f"/api/v1/patients/{world['patient']['id']}/visit-code").json()["token"]
    world["kiosk"].post("/api/v1/kiosk/sessions", json={"visit_code": code})
    his = device_client(app, "his", "HIS 接口2")
    resolved = his.post("/api/v1/visit-codes/resolve", json={"token": code})
    assert resolved.status_code == 200, resolved.text
