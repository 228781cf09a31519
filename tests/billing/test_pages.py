"""The H5 pages: a patient pays a bill through the sandbox cashier and sees it paid."""

from __future__ import annotations

import pytest

from tests.billing.helpers import push_bill
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="吴九")
    token = family.headers["Authorization"].removeprefix("Bearer ")
    return {"his": his, "family": family, "me": me, "token": token}


def login(phone, app, token):
    phone.context.add_cookies([{"name": "palm_session", "value": token, "url": app.url}])


@pytest.mark.browser
def test_patient_pays_a_bill_through_the_sandbox_cashier_and_sees_it_paid(app, world, phone):
    bill = push_bill(world["his"], world["me"]["id"])
    login(phone, app, world["token"])
    phone.goto(f"{app.url}/h5/")
    phone.get_by_text("门诊缴费").click()
    phone.wait_for_url("**/h5/bills")
    phone.locator(f"[data-bill='{bill['id']}']").click()
    phone.wait_for_url(f"**/h5/bills/{bill['id']}")
    assert "阿莫西林胶囊" in phone.content() and "医保统筹支付" in phone.content()
    assert phone.locator("#payable").inner_text() == "¥43.00"
    phone.locator("#pay-button").click()
    phone.wait_for_url("**/sandbox/wechatpay/cashier/**")
    assert phone.locator("#cashier-amount").inner_text() == "¥43.00"
    phone.locator("#cashier-pay").click()
    phone.wait_for_url("**/h5/payments/**")
    phone.locator("#payment-state", has_text="支付成功").wait_for(timeout=15000)
    phone.locator("#to-bill").click()
    phone.locator("#receipt-no").wait_for()
    assert phone.locator("#bill-status").inner_text() == "已缴费"
    phone.goto(f"{app.url}/h5/bills/history")
    assert phone.locator(f"[data-bill='{bill['id']}']").count() == 1


@pytest.mark.browser
def test_cancel_at_the_cashier_leaves_the_bill_payable(app, world, phone):
    bill = push_bill(world["his"], world["me"]["id"])
    login(phone, app, world["token"])
    phone.goto(f"{app.url}/h5/bills/{bill['id']}")
    phone.locator("#pay-button").click()
    phone.wait_for_url("**/sandbox/wechatpay/cashier/**")
    phone.locator("#cashier-cancel").click()
    phone.wait_for_url("**/h5/payments/**")
    phone.locator("#payment").wait_for()
    phone.locator("#to-bill").click()
    phone.wait_for_url(f"**/h5/bills/{bill['id']}")
    assert phone.locator("#bill-status").inner_text() == "待缴费"
    assert phone.locator("#pay-button").is_visible()


def test_pages_without_a_session_go_to_login_and_back(app):
    response = app.http.get("/h5/bills")
    assert response.status_code == 302
    assert response.headers["Location"] == "/h5/login?next=%2Fh5%2Fbills"


def test_another_accounts_bill_page_is_404(app, world):
    bill = push_bill(world["his"], world["me"]["id"])
    stranger, _ = patient_client(app)
    token = stranger.headers["Authorization"].removeprefix("Bearer ")
    response = app.http.get(f"/h5/bills/{bill['id']}", headers={"Cookie": f"palm_session={token}"})
    assert response.status_code == 404


def test_home_page_has_the_billing_tile(app):
    assert 'href="/h5/bills"' in app.http.get("/h5/").text
