"""Bills from the HIS: checked amounts, idempotency, and patients seeing only their family's."""

from __future__ import annotations

import pytest

from tests.billing.helpers import bill_payload, push_bill
from tests.support import add_patient, device_client, patient_client, staff_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="张三丰")
    child = add_patient(app, family, name="张小宝", relation="child")
    stranger, _ = patient_client(app)
    add_patient(app, stranger, name="李四")
    return {"his": his, "family": family, "me": me, "child": child, "stranger": stranger}


def test_his_bill_is_accepted_with_items_and_insurance_split(world):
    bill = push_bill(world["his"], world["me"]["id"], prescription_no="RX001")
    assert bill["status"] == "unpaid" and bill["total_fen"] == 8300
    assert bill["payable_fen"] == 4300   # 自费 only: 统筹 and 个人账户 are settled by insurance
    assert bill["insurance"] == {"pooled_fen": 3000, "personal_account_fen": 1000,
                                 "self_pay_fen": 4300}
    assert [i["category"] for i in bill["items"]] == ["西药", "中成药", "检验"]
    assert bill["patient_name"] == "张*丰" and bill["prescription_no"] == "RX001"


def test_same_his_bill_twice_is_stored_once(world, app):
    payload = bill_payload(world["me"]["id"])
    first = world["his"].post("/api/v1/his/bills", json=payload)
    again = world["his"].post("/api/v1/his/bills", json=payload)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert app.db.bills.count_documents({"source_ref": payload["his_bill_id"]}) == 1


def test_same_his_bill_id_with_other_content_is_a_conflict(world):
    payload = bill_payload(world["me"]["id"])
    assert world["his"].post("/api/v1/his/bills", json=payload).status_code == 201
    payload["items"][0].update(unit_price_fen=1581, amount_fen=3162)
    payload["total_fen"] = 8302
    payload["insurance"]["self_pay_fen"] = 4302
    response = world["his"].post("/api/v1/his/bills", json=payload)
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_conflict"


@pytest.mark.parametrize("change, code", [
    (lambda p: p["items"][0].update(amount_fen=3000), "item_amount_mismatch"),
    (lambda p: p.update(total_fen=8400), "items_total_mismatch"),
    (lambda p: p["insurance"].update(self_pay_fen=4000), "insurance_split_mismatch"),
])
def test_amounts_that_do_not_add_up_are_refused_and_nothing_is_stored(world, app, change, code):
    payload = bill_payload(world["me"]["id"])
    change(payload)
    response = world["his"].post("/api/v1/his/bills", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert app.db.bills.count_documents({"source_ref": payload["his_bill_id"]}) == 0


def test_fractional_quantities_of_herbs_round_half_up(world):
    payload = bill_payload(world["me"]["id"], items=[
        {"name": "黄芪", "category": "中药饮片", "quantity": "12.5", "unit": "g",
         "unit_price_fen": 7, "amount_fen": 88}], total_fen=88,
        insurance={"self_pay_fen": 88})
    assert world["his"].post("/api/v1/his/bills", json=payload).status_code == 201


def test_unknown_category_and_negative_amounts_are_400(world):
    payload = bill_payload(world["me"]["id"])
    payload["items"][0]["category"] = "保健品"
    assert world["his"].post("/api/v1/his/bills", json=payload).status_code == 400
    payload = bill_payload(world["me"]["id"], total_fen=-1)
    assert world["his"].post("/api/v1/his/bills", json=payload).status_code == 400


def test_bill_by_hospital_card_number(world, app):
    app.call(lambda s: s.identity.bind_hospital_card(world["child"]["id"], "JZK0099887"))
    payload = bill_payload(None, hospital_card_no="JZK0099887")
    del payload["patient_id"]
    response = world["his"].post("/api/v1/his/bills", json=payload)
    assert response.status_code == 201 and response.json()["patient_id"] == world["child"]["id"]


def test_unknown_patient_is_a_422(world):
    payload = bill_payload("0" * 24)
    response = world["his"].post("/api/v1/his/bills", json=payload)
    assert response.status_code == 422 and response.json()["error"]["code"] == "patient_unknown"


def test_only_the_his_may_push_bills(app, world):
    kiosk = device_client(app, "kiosk")
    assert kiosk.post("/api/v1/his/bills", json=bill_payload(world["me"]["id"])).status_code == 403
    assert world["family"].post("/api/v1/his/bills",
                                json=bill_payload(world["me"]["id"])).status_code == 401


def test_family_sees_its_bills_by_member_and_status(world):
    push_bill(world["his"], world["child"]["id"])
    everything = world["family"].get("/api/v1/bills").json()
    assert {b["patient_id"] for b in everything} == {world["me"]["id"], world["child"]["id"]}
    child_only = world["family"].get("/api/v1/bills", params={
        "patient_id": world["child"]["id"], "status": "unpaid"}).json()
    assert child_only and all(b["patient_id"] == world["child"]["id"] for b in child_only)
    assert world["family"].get("/api/v1/bills", params={"status": "paid"}).json() == []


def test_another_account_gets_404_for_a_bill_or_a_member(world):
    bill = push_bill(world["his"], world["me"]["id"])
    response = world["stranger"].get(f"/api/v1/bills/{bill['id']}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "bill_not_found"
    assert world["stranger"].get("/api/v1/bills",
                                 params={"patient_id": world["me"]["id"]}).status_code == 404
    assert world["stranger"].post(f"/api/v1/bills/{bill['id']}/pay",
                                  json={"channel": "sandbox"}).status_code == 404
    assert all(b["patient_id"] != world["me"]["id"]
               for b in world["stranger"].get("/api/v1/bills").json())


def test_finance_reads_any_bill_and_the_read_is_audited(app, world):
    bill = push_bill(world["his"], world["me"]["id"])
    finance = staff_client(app, "finance", "钱会计")
    assert finance.get(f"/api/v1/admin/bills/{bill['id']}").json()["id"] == bill["id"]
    entry = app.db.audit_log.find_one({"action": "billing.read_bill",
                                       "details.bill_id": bill["id"]})
    assert entry is not None and entry["patient_id"] == world["me"]["id"]
    assert staff_client(app, "pharmacist").get(f"/api/v1/admin/bills/{bill['id']}").status_code == 403
