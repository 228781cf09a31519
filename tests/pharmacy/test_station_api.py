"""The pharmacist station over HTTP: HIS intake, scanning, advancing, roles, queues, labels."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.pharmacy.helpers import PHARMACY_PATH, push, rx_payload, step, walk_http
from tests.support import device_client, staff_client


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his", name="HIS 主服务器")


@pytest.fixture(scope="module")
def pharmacist(app):
    return staff_client(app, "pharmacist", name="李药师")


@pytest.fixture(scope="module")
def supervisor(app):
    return staff_client(app, "pharmacy_supervisor", name="王主管")


def test_his_push_creates_once_and_a_repeat_changes_nothing(app, his):
    payload = rx_payload()
    first = his.post("/api/v1/his/prescriptions", json=payload)
    again = his.post("/api/v1/his/prescriptions", json=payload)
    assert first.status_code == 200 and again.status_code == 200
    assert first.json()["created"] is True and again.json()["created"] is False
    assert first.json()["prescription"]["id"] == again.json()["prescription"]["id"]
    assert app.db.prescriptions.count_documents({"rx_no": payload["rx_no"]}) == 1


def test_only_a_signed_his_device_may_push_prescriptions(app):
    kiosk = device_client(app, "kiosk")
    assert kiosk.post("/api/v1/his/prescriptions", json=rx_payload()).status_code == 403
    unsigned = httpx.post(f"{app.url}/api/v1/his/prescriptions", json=rx_payload())
    assert unsigned.status_code == 401


def test_courier_prescription_without_address_is_refused_in_chinese(his):
    response = his.post("/api/v1/his/prescriptions", json=rx_payload(delivery="courier"))
    assert response.status_code == 400
    assert "收货地址" in response.json()["error"]["details"][0]["message"]


def test_scanning_the_label_shows_the_bag_its_stage_and_next_action(his, pharmacist):
    rx = push(his)
    label = pharmacist.get(f"/api/v1/pharmacy/prescriptions/{rx['id']}/label").json()
    assert rx["rx_no"] in label["qr_text"] and "/h5/decoction/" in label["qr_text"]
    for code in (label["qr_text"], rx["rx_no"], label["qr_text"].split("/h5/decoction/")[1].split("?")[0]):
        scanned = pharmacist.post("/api/v1/pharmacy/scan", json={"code": code})
        assert scanned.status_code == 200, scanned.text
        body = scanned.json()
        assert (body["id"], body["stage"], body["next_stage"], body["next_action"]) == \
            (rx["id"], "received", "reviewed", "审方通过")
        assert body["patient_name"] == "王*国"


def test_a_tampered_label_code_is_refused_and_an_unknown_number_is_not_found(his, pharmacist):
    rx = push(his)
    qr_text = pharmacist.get(f"/api/v1/pharmacy/prescriptions/{rx['id']}/label").json()["qr_text"]
    token = qr_text.split("/h5/decoction/")[1].split("?")[0]
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    response = pharmacist.post("/api/v1/pharmacy/scan", json={"code": forged})
    assert response.status_code == 422 and response.json()["error"]["code"] == "scan_code_invalid"
    missing = pharmacist.post("/api/v1/pharmacy/scan", json={"code": "RX-NOPE-404"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "prescription_not_found"


def test_skipping_a_stage_is_409_invalid_transition(app, his, pharmacist):
    rx = push(his)
    response = step(pharmacist, rx["id"], "checked")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition" and "审方" in error["message"]
    assert app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})["stage"] == "received"


def test_two_stations_scanning_the_same_bag_only_one_advances_it(app, his, pharmacist):
    rx = push(his)
    other = staff_client(app, "pharmacist", name="赵药师")
    barrier = threading.Barrier(6)
    results: list[int] = []

    def station(client):
        barrier.wait()
        results.append(step(client, rx["id"], "reviewed").status_code)

    threads = [threading.Thread(target=station, args=(c,)) for c in [pharmacist, other] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409, 409, 409]
    stored = app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})
    assert [s["stage"] for s in stored["history"]] == ["received", "reviewed"]


@pytest.mark.parametrize("role", ["doctor", "nurse", "finance"])
def test_staff_without_a_pharmacy_role_get_403(app, his, role):
    rx = push(his)
    outsider = staff_client(app, role)
    calls = [outsider.post("/api/v1/pharmacy/scan", json={"code": rx["rx_no"]}),
             step(outsider, rx["id"], "reviewed"),
             outsider.get("/api/v1/pharmacy/queues")]
    assert [c.status_code for c in calls] == [403, 403, 403]
    assert calls[0].json()["error"]["code"] == "role_forbidden"
    assert app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})["stage"] == "received"


def test_decocting_before_the_soaking_time_is_422_with_a_clear_code(app, his, pharmacist):
    rx = push(his)
    walk_http(app, pharmacist, rx["id"], ["reviewed", "dispensed", "checked", "soaking"])
    app.clock.advance(minutes=10)
    response = step(pharmacist, rx["id"], "decocting")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "soaking_too_short"
    assert "30 分钟" in response.json()["error"]["message"]


def test_only_a_supervisor_may_undo_and_the_undo_is_audited(app, his, pharmacist, supervisor):
    rx = push(his)
    walk_http(app, pharmacist, rx["id"], ["reviewed", "dispensed"])
    denied = pharmacist.post(f"/api/v1/pharmacy/prescriptions/{rx['id']}/undo", json={"reason": "调配错误"})
    assert denied.status_code == 403
    undone = supervisor.post(f"/api/v1/pharmacy/prescriptions/{rx['id']}/undo",
                             json={"reason": "调配错误，重新称量", "station": "主管台"})
    assert undone.status_code == 200 and undone.json()["stage"] == "reviewed"
    entry = app.db.audit_log.find_one({"action": "pharmacy.undo", "details.rx_no": rx["rx_no"]})
    assert entry["details"]["reason"] == "调配错误，重新称量"
    assert entry["details"]["undone_stage"] == "dispensed" and entry["actor_label"].startswith("药房主管")


def test_every_scan_is_an_audited_read(app, his, pharmacist):
    rx = push(his)
    pharmacist.post("/api/v1/pharmacy/scan", json={"code": rx["rx_no"]})
    assert app.db.audit_log.count_documents({"action": "pharmacy.scan", "details.rx_no": rx["rx_no"]}) == 1


def test_shipping_records_courier_and_tracking_number(app, his, pharmacist):
    rx = push(his, delivery="courier", address="浙江省杭州市西湖区文三路 1 号")
    walk_http(app, pharmacist, rx["id"], PHARMACY_PATH)
    missing = step(pharmacist, rx["id"], "shipped")
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "shipping_details_required"
    shipped = step(pharmacist, rx["id"], "shipped", courier="顺丰速运", tracking_no="SF1400000001")
    assert shipped.status_code == 200
    assert (shipped.json()["courier"], shipped.json()["tracking_no"]) == ("顺丰速运", "SF1400000001")


def test_batch_mode_advances_many_bags_and_reports_each(app, his, pharmacist):
    ready = [push(his) for _ in range(3)]
    behind = push(his)
    walk_http(app, pharmacist, behind["id"], [])
    for rx in ready:
        walk_http(app, pharmacist, rx["id"], ["reviewed"])
    response = pharmacist.post("/api/v1/pharmacy/batch-advance", json={
        "to_stage": "dispensed", "station": "调剂台-3", "ids": [r["id"] for r in ready] + [behind["id"]]})
    assert response.status_code == 200
    out = response.json()
    assert (out["succeeded"], out["failed"]) == (3, 1)
    assert out["items"][-1]["code"] == "invalid_transition"


def test_work_queues_show_waiting_times_and_the_overdue_list_uses_stage_limits(app, his, pharmacist):
    rx = push(his)
    app.clock.advance(minutes=45)
    queues = {q["stage"]: q for q in pharmacist.get("/api/v1/pharmacy/queues").json()}
    mine = next(i for i in queues["received"]["items"] if i["rx_no"] == rx["rx_no"])
    assert mine["waiting_minutes"] == 45 and mine["overdue"] is True
    assert queues["received"]["limit_minutes"] == 30
    overdue = pharmacist.get("/api/v1/pharmacy/overdue").json()
    assert rx["rx_no"] in [i["rx_no"] for i in overdue]
    walk_http(app, pharmacist, rx["id"], ["reviewed"])
    overdue = pharmacist.get("/api/v1/pharmacy/overdue").json()
    assert rx["rx_no"] not in [i["rx_no"] for i in overdue]


def test_the_label_qr_is_a_png_and_the_label_shows_only_a_masked_name(his, pharmacist):
    rx = push(his)
    png = pharmacist.get(f"/api/v1/pharmacy/prescriptions/{rx['id']}/qr")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    label = pharmacist.get(f"/api/v1/pharmacy/prescriptions/{rx['id']}/label").json()
    assert label["patient_name"] == "王*国" and "王建国" not in str(label)
    assert label["qr_data_url"].startswith("data:image/png;base64,")
