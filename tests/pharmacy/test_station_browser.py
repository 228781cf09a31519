"""In Chromium: a pharmacist logs in at the station, scans bags with a (simulated) USB
scanner, advances them with one key, and the patient's progress page follows."""

from __future__ import annotations

import secrets

import pytest

from tests.pharmacy.helpers import advance, push
from tests.support import device_client

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his")


@pytest.fixture(scope="module")
def login(app):
    """Credentials of a pharmacist and of a supervisor."""
    made = {}
    for role in ("pharmacist", "pharmacy_supervisor"):
        username, password = f"ph{secrets.token_hex(3)}", secrets.token_urlsafe(12)
        app.call(lambda s, u=username, r=role, p=password: s.staff.create_staff(u, "钱药师", [r], p))
        made[role] = (username, password)
    return made


@pytest.fixture
def station(browser, app, login):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(app.url + "/pharmacy/station")
    username, password = login["pharmacist"]
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#scan", state="visible")
    yield page
    assert problems == []
    context.close()


def scanner_types(page, code: str) -> None:
    """A USB barcode scanner is a keyboard: it types the code, then Enter."""
    page.focus("#scan")
    page.keyboard.type(code, delay=2)
    page.keyboard.press("Enter")


def test_scan_advance_and_the_patient_page_follows(app, his, station, phone):
    rx = push(his)
    progress = "/h5/decoction/" + rx["progress_url"].split("/h5/decoction/")[1]
    phone.goto(app.url + progress)
    assert phone.inner_text("#current-stage") == "已收方"

    label = station.context.request.get(  # the QR text as the scanner reads it off the bag
        app.url + f"/api/v1/pharmacy/prescriptions/{rx['id']}/label",
        headers={"Authorization": "Bearer " + station.evaluate("sessionStorage.getItem('palm_staff_token')")})
    scanner_types(station, label.json()["qr_text"])
    station.wait_for_selector("#bag:not(.hidden)")
    assert station.inner_text("#bag-rx") == rx["rx_no"]
    assert station.inner_text("#bag-stage") == "已收方"
    assert "审方通过" in station.inner_text("#advance")
    assert "先煎" in station.inner_text("#bag-herbs")

    station.keyboard.press("Enter")  # one key advances the bag on screen
    station.wait_for_selector("#banner.ok")
    assert "审方" in station.inner_text("#banner")
    assert station.inner_text("#bag-stage") == "审方"

    phone.reload()
    assert phone.inner_text("#current-stage") == "审方"
    assert "审方" in phone.inner_text(".timeline li.current")


def test_errors_are_a_big_red_banner(app, his, station):
    rx = push(his)
    scanner_types(station, "RX-DOES-NOT-EXIST")
    station.wait_for_selector("#banner.error")
    assert "未找到该处方" in station.inner_text("#banner")
    # another station moved the bag meanwhile: our Enter is refused loudly
    scanner_types(station, rx["rx_no"])
    station.wait_for_selector("#banner.info")
    advance(app, rx["id"], "reviewed")
    station.keyboard.press("Enter")
    station.wait_for_selector("#banner.error")
    assert "invalid_transition" in station.inner_text("#banner")
    assert app.db.prescriptions.find_one({"rx_no": rx["rx_no"]})["stage"] == "reviewed"


def test_batch_mode_advances_every_scanned_bag(app, his, station):
    bags = [push(his) for _ in range(3)]
    station.check("#batch-mode")
    station.select_option("#batch-stage", "reviewed")
    for bag in bags:
        scanner_types(station, bag["rx_no"])
        station.wait_for_selector(f"#batch-list li:has-text('{bag['rx_no']}')")
    assert station.inner_text("#batch-count") == "3"
    station.click("#batch-submit")
    station.wait_for_selector("#banner:has-text('成功')")
    assert "成功 3 袋" in station.inner_text("#banner")
    stages = {d["stage"] for d in app.db.prescriptions.find({"rx_no": {"$in": [b["rx_no"] for b in bags]}})}
    assert stages == {"reviewed"}


def test_label_page_shows_the_qr_and_a_masked_name(app, his, station):
    rx = push(his)
    station.goto(app.url + f"/pharmacy/prescriptions/{rx['id']}/label")
    station.wait_for_selector("#label:not(.hidden)")
    assert station.inner_text("#label-name") == "王*国"
    assert station.evaluate("document.getElementById('label-qr').naturalWidth") > 100


def test_supervisor_sees_the_statistics_chart(app, browser, login):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(app.url + "/admin/pharmacy/stats")
    username, password = login["pharmacy_supervisor"]
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_function("() => document.getElementById('chart').naturalWidth > 100")
    assert "已收方" in page.inner_text("#stage-rows")
    context.close()


def test_logged_in_patient_sees_their_prescriptions_on_the_h5_list(app, his, phone):
    from tests.support import add_patient, new_phone, patient_client

    client, _account = patient_client(app, phone=(mobile := new_phone()))
    member = add_patient(app, client, name="孙丽华", sex="female")
    rx = push(his, patient_id=member["id"], patient_name="孙丽华")

    async def session(services):
        account = await services.identity.account_for_phone(mobile)
        return await services.identity.create_session("patient", str(account["_id"]))

    phone.context.add_cookies([{"name": "palm_session", "value": app.call(session), "url": app.url}])
    phone.goto(app.url + "/h5/")
    phone.click("a[href='/h5/decoction']")
    phone.wait_for_selector(f"#members a:has-text('{rx['rx_no']}')")
    assert "孙*华" in phone.inner_text("#members") and "已收方" in phone.inner_text("#members")
    phone.click(f"#members a:has-text('{rx['rx_no']}')")
    phone.wait_for_selector("#current-stage")
    assert phone.inner_text("#current-stage") == "已收方"


def test_a_doctor_signing_in_at_the_station_is_told_at_once(app, browser):
    username, password = f"dr{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    app.call(lambda s: s.staff.create_staff(username, "孙医生", ["doctor"], password))
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(app.url + "/pharmacy/station")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector("#banner.error")
    assert "无权" in page.inner_text("#banner")
    context.close()
