"""What patients get: messages at the configured stages (once each), the public progress
page behind the bag's QR, and their own prescriptions when logged in."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.pharmacy.helpers import PHARMACY_PATH, push, step, walk_http
from tests.support import add_patient, device_client, new_phone, patient_client, staff_client


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his")


@pytest.fixture(scope="module")
def pharmacist(app):
    return staff_client(app, "pharmacist")


@pytest.fixture(scope="module")
def family(app):
    client, _account_id = patient_client(app)
    phone = new_phone()
    member = add_patient(app, client, name="欧阳娜娜", sex="female", phone=phone)
    return client, member, phone


def inbox(app, phone: str) -> list[dict]:
    app.call(lambda s: s.notify.dispatch_due())
    return app.http.get("/dev/inbox", params={"phone": phone}).json()


def progress_path(rx: dict) -> str:
    return "/h5/decoction/" + rx["progress_url"].split("/h5/decoction/")[1]


def test_patient_gets_a_message_at_received_decocting_and_ready_and_never_twice(app, his, pharmacist, family):
    _client, member, phone = family
    rx = push(his, patient_id=member["id"], patient_name="欧阳娜娜", phone=None)
    walk_http(app, pharmacist, rx["id"], PHARMACY_PATH + ["ready_for_pickup"])
    assert len(inbox(app, phone)) == 3
    # a crash between the stage update and the outbox write leaves the notices pending:
    stored = app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})
    noticed = [s["n"] for s in stored["history"]
               if s["stage"] in ("received", "decocting", "ready_for_pickup")]
    app.db.prescriptions.update_one({"_id": stored["_id"]}, {"$set": {"notices_pending": noticed}})
    app.clock.advance(minutes=5)
    assert app.call(lambda s: s.pharmacy.resend_pending_notices()) == 3
    messages = [m for m in inbox(app, phone) if m["params"].get("rx_no") == rx["rx_no"]]
    assert sorted(m["params"]["stage"] for m in messages) == sorted(["已收方", "煎煮", "待取药"])
    assert all(m["template"] == "decoction_stage" for m in messages)
    assert all("欧**娜" in m["text"] and "欧阳娜娜" not in m["text"] for m in messages)
    assert all("/h5/decoction/" in m["params"]["link"] for m in messages)
    assert app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})["notices_pending"] == []


def test_shipping_sends_the_courier_and_tracking_number(app, his, pharmacist):
    phone = new_phone()
    rx = push(his, phone=phone, delivery="courier", address="浙江省杭州市西湖区文三路 1 号")
    walk_http(app, pharmacist, rx["id"], PHARMACY_PATH)
    shipping = step(pharmacist, rx["id"], "shipped", courier="顺丰速运", tracking_no="SF1400000009")
    assert shipping.status_code == 200
    shipped = [m for m in inbox(app, phone) if m["template"] == "decoction_shipped"]
    assert len(shipped) == 1
    assert shipped[0]["params"]["tracking_no"] == "SF1400000009" and "顺丰速运" in shipped[0]["text"]


def test_public_progress_page_shows_the_timeline_and_nothing_but_a_masked_name(app, his, pharmacist):
    rx = push(his, delivery="courier", address="浙江省杭州市西湖区文三路 1 号", card_no="C0098765")
    walk_http(app, pharmacist, rx["id"], ["reviewed", "dispensed"])
    page = httpx.get(app.url + progress_path(rx))
    assert page.status_code == 200
    html = page.text
    assert "王*国" in html and rx["rx_no"] in html and "调配" in html and "煎煮" in html
    for secret in ("王建国", "13800001111", "文三路", "C0098765", "黄芪"):
        assert secret not in html
    assert "预计" in html


def test_progress_page_shows_the_pick_up_place_when_ready(app, his, pharmacist):
    rx = push(his, pickup_window="中药房 5 号窗口")
    walk_http(app, pharmacist, rx["id"], PHARMACY_PATH + ["ready_for_pickup"])
    html = httpx.get(app.url + progress_path(rx)).text
    assert "中药房 5 号窗口" in html and "药已备好" in html


def test_tampered_token_shows_the_404_page(app, his):
    rx = push(his)
    path = progress_path(rx)
    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    for bad in (forged, "/h5/decoction/not-a-token", path.replace(".", ".x")):
        page = httpx.get(app.url + bad)
        assert page.status_code == 404 and "页面不存在或已失效" in page.text
        assert rx["rx_no"] not in page.text
    assert httpx.get(app.url + "/api/v1/decoction/" + forged.split("/")[-1]).status_code == 404


def test_expired_token_shows_the_404_page(app, his):
    rx = push(his)
    path = progress_path(rx)
    assert httpx.get(app.url + path).status_code == 200
    now = app.clock.now()
    app.clock.set(now + timedelta(days=61))
    try:
        page = httpx.get(app.url + path)
        assert page.status_code == 404 and "页面不存在或已失效" in page.text
    finally:
        app.clock.set(now)


def test_logged_in_patient_sees_their_prescriptions_and_nobody_elses(app, his, family):
    client, member, _phone = family
    rx = push(his, patient_id=member["id"], patient_name="欧阳娜娜")
    mine = client.get("/api/v1/prescriptions", params={"patient_id": member["id"]})
    assert mine.status_code == 200
    assert rx["rx_no"] in [p["rx_no"] for p in mine.json()]
    assert all(p["patient_name"] == "欧**娜" for p in mine.json())
    stranger, _ = patient_client(app)
    other = stranger.get("/api/v1/prescriptions", params={"patient_id": member["id"]})
    assert other.status_code == 404


def test_his_may_name_the_patient_by_hospital_card(app, his, family):
    client, member, _phone = family
    app.call(lambda s: s.identity.bind_hospital_card(member["id"], "HC20260001"))
    rx = push(his, card_no="HC20260001", patient_name="欧阳娜娜")
    assert rx["patient_id"] == member["id"]
    listed = client.get("/api/v1/prescriptions", params={"patient_id": member["id"]}).json()
    assert rx["rx_no"] in [p["rx_no"] for p in listed]


def test_the_home_page_has_a_decoction_tile_that_leads_to_a_page(app):
    home = httpx.get(app.url + "/h5/").text
    assert 'href="/h5/decoction"' in home
    anonymous = httpx.get(app.url + "/h5/decoction")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/h5/login?next=%2Fh5%2Fdecoction")


def test_an_unpaid_prescription_page_asks_for_payment_first(app, his):
    rx = push(his, payment_required=True)
    html = httpx.get(app.url + progress_path(rx)).text
    assert "待缴费" in html and "请先完成缴费" in html and "预计" not in html
