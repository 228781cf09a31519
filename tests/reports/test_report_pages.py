"""Pages in a real browser: the patient's report list and detail (H5), the public verify
page, and the kiosk flow (set up, scan, list, print, auto-logout after 60 s idle)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.billing.helpers import push_bill, wait_for
from tests.harness import START_DAY
from tests.reports.helpers import family, lab
from tests.support import device_client

pytestmark = pytest.mark.browser
# Headless Chromium's renderer crashes when print() is called on a PDF frame; the page
# still fetches and shows the PDF, and the print is recorded server-side.
APP_OVERRIDES = {"kiosk.print_dialog": False}


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his")


@pytest.fixture(scope="module")
def grandpa(app, his):
    client, account_id, patient, _ = family(app, name="王建国", card_no="880011112222")
    items = [{"code": "K", "name": "钾", "value": "6.7", "unit": "mmol/L", "reference_range": "3.5-5.3",
              "flag": "危急"},
             {"code": "GLU", "name": "葡萄糖", "value": "5.2", "unit": "mmol/L",
              "reference_range": "3.9-6.1"},
             {"code": "WBC", "name": "白细胞计数", "value": "10.6", "unit": "10^9/L",
              "reference_range": "3.5-9.5"}]
    body = lab(patient["id"], items=items, title="急诊生化")
    first = his.post("/api/v1/his/reports", json=body).json()
    his.post("/api/v1/his/reports", json={**body, "status": "amended", "amendment_note": "复核钾离子",
                                          "items": [{**items[0], "value": "6.9"}, *items[1:]]})
    pending = his.post("/api/v1/his/reports", json=lab(patient["id"], status="pending", items=[],
                                                       title="尿常规")).json()
    token = app.call(lambda s: s.identity.create_session("patient", account_id))
    bill = push_bill(his, patient["id"], insurance={"pooled_fen": 6000, "personal_account_fen": 2300,
                                                     "self_pay_fen": 0})   # paid by insurance at once
    wait_for(lambda: app.db.receipts.find_one({"bill_id": __import__("bson").ObjectId(bill["id"])}))
    return {"client": client, "patient": patient, "report": first["id"], "pending": pending["id"],
            "token": token}


def login(page, app, token):
    page.context.add_cookies([{"name": "palm_session", "value": token, "url": app.url}])


def test_home_has_the_reports_tile_and_the_list_groups_by_day_with_badges(app, phone, grandpa):
    phone.goto(f"{app.url}/h5/")
    assert phone.locator("a.tile[href='/h5/reports']").inner_text().startswith("📋")
    login(phone, app, grandpa["token"])
    phone.goto(f"{app.url}/h5/reports")
    day = phone.locator(".report-day h2").first.inner_text()
    weekday = "一二三四五六日"[START_DAY.weekday()]
    assert day == f"{START_DAY.year}年{START_DAY.month}月{START_DAY.day}日 星期{weekday}"
    rows = phone.locator(".report-row")
    assert rows.count() == 2
    texts = [rows.nth(i).inner_text() for i in range(2)]
    assert any("急诊生化" in t and "已更正" in t and "危急值 1 项" in t for t in texts)
    assert any("尿常规" in t and "检查中" in t for t in texts)


def test_detail_puts_abnormal_first_in_words_and_colour_with_the_amendment_note(app, phone, grandpa):
    login(phone, app, grandpa["token"])
    phone.goto(f"{app.url}/h5/reports/{grandpa['report']}")
    assert "此报告已更正" in phone.locator("#amended-note").inner_text()
    assert "复核钾离子" in phone.locator("#amended-note").inner_text()
    assert "危急值" in phone.locator(".alert").inner_text()
    items = phone.locator("li.item")
    assert [items.nth(i).get_attribute("data-code") for i in range(3)] == ["K", "WBC", "GLU"]
    first = items.nth(0).inner_text()
    assert "6.9" in first and "危急（偏高）" in first and "↑" in first and "参考范围：3.5-5.3" in first
    assert "偏高" in items.nth(1).inner_text() and "比正常参考范围高" in items.nth(1).inner_text()
    colour = items.nth(0).evaluate("el => getComputedStyle(el.querySelector('.item-value')).color")
    normal = items.nth(2).evaluate("el => getComputedStyle(el.querySelector('.item-value')).color")
    assert colour != normal
    size = items.nth(0).evaluate(
        "el => parseFloat(getComputedStyle(el.querySelector('.item-value')).fontSize)")
    assert size >= 24     # readable without glasses


def test_reports_page_without_login_goes_to_login_and_another_account_gets_404(app, phone, grandpa):
    phone.goto(f"{app.url}/h5/reports")
    assert "/h5/login" in phone.url and "next=%2Fh5%2Freports" in phone.url
    _, stranger, _, _ = family(app, name="路人甲")
    token = app.call(lambda s: s.identity.create_session("patient", stranger))
    login(phone, app, token)
    response = phone.goto(f"{app.url}/h5/reports/{grandpa['report']}")
    assert response.status == 404 and "急诊生化" not in phone.content()


def test_kiosk_flow_setup_scan_print_and_auto_logout(app, browser, grandpa):
    kiosk = device_client(app, "kiosk", "门诊大厅3号")
    context = browser.new_context(viewport={"width": 1080, "height": 1600}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.clock.install(time=app.clock.now())
        page.goto(f"{app.url}/kiosk")
        assert page.locator("#screen-setup").is_visible()
        page.fill("#setup-key", kiosk.key_id)
        page.fill("#setup-secret", kiosk.secret)
        page.click("#screen-setup button[type=submit]")
        assert page.locator("#screen-start").is_visible()
        assert "请将手机上的就诊码对准扫码口" in page.inner_text("#screen-start")

        code = grandpa["client"].get(
            f"/api/v1/patients/{grandpa['patient']['id']}/visit-code").json()["token"]
        page.keyboard.type(code)          # the USB scanner types into the focused scan box
        page.keyboard.press("Enter")
        page.wait_for_selector("#screen-patient:not(.hidden)")
        assert page.inner_text("#patient-name") == "王*国"
        rows = page.locator("#report-list li")
        # the pending report is not printable
        assert rows.count() == 1 and "急诊生化（已更正）" in rows.first.inner_text()

        rows.first.locator("button.print-button").click()
        expect(page.locator("#kiosk-status")).to_contain_text("已打印", timeout=20_000)  # shared CPU
        assert "第 1 次打印" in page.inner_text("#kiosk-status")
        stored = app.db.reports.find_one({"_id": __import__("bson").ObjectId(grandpa["report"])})
        assert stored["print_count"] == 1 and stored["prints"][0]["by"] == "自助机 门诊大厅3号"

        receipt = page.locator("#receipt-list li")
        assert receipt.count() == 1 and "票据号 PJ" in receipt.first.inner_text()
        receipt.first.locator("button.print-button").click()
        expect(page.locator("#kiosk-status")).to_contain_text("已打印「缴费票据」", timeout=20_000)

        page.clock.run_for(61_000)        # nobody touches the screen for a minute
        page.wait_for_selector("#screen-start:not(.hidden)")
        assert "自动退出" in page.inner_text("#kiosk-status")
        assert page.locator("#report-list li").count() == 0
        session = app.db.kiosk_sessions.find_one({"kiosk_id": kiosk.key_id}, sort=[("_id", -1)])
        for _ in range(50):
            if session["closed_at"] is not None:
                break
            page.wait_for_timeout(100)
            session = app.db.kiosk_sessions.find_one({"_id": session["_id"]})
        assert session["closed_at"] is not None

        page.fill("#card-input", "880000000000")
        page.click("#card-form button")
        expect(page.locator("#kiosk-status")).to_contain_text("未找到该就诊卡")

        page.locator("#scan-input").focus()
        page.keyboard.type("880011112222")   # a card reader swipes into the same scan box
        page.keyboard.press("Enter")
        page.wait_for_selector("#screen-patient:not(.hidden)")
        assert page.inner_text("#patient-name") == "王*国"
        page.click("#logout")
        page.wait_for_selector("#screen-start:not(.hidden)")
        assert not [e for e in errors if "Content Security Policy" in e]
    finally:
        context.close()
