"""H5: a patient pays a bill by 医保 + 自费 from the bill page, through the sandbox's stand-in
for WeChat's 医保 payment sheet, and sees the result and the paid bill (headless Chromium)."""

from __future__ import annotations

import pytest

from tests.billing.helpers import push_bill
from tests.support import add_patient, device_client, patient_client


@pytest.fixture(scope="module")
def world(app):
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="周十一")
    token = family.headers["Authorization"].removeprefix("Bearer ")
    return {"his": his, "family": family, "me": me, "token": token}


def login(phone, app, token):
    phone.context.add_cookies([{"name": "palm_session", "value": token, "url": app.url}])


@pytest.mark.browser
def test_patient_pays_by_insurance_and_cash_and_sees_the_split_and_the_paid_bill(app, world, phone):
    bill = push_bill(world["his"], world["me"]["id"])
    login(phone, app, world["token"])
    phone.goto(f"{app.url}/h5/bills/{bill['id']}")
    phone.locator("#medins-pay-button").click()
    phone.wait_for_url("**/sandbox/medins/cashier/**")
    assert phone.locator("#cashier-total").inner_text() == "¥83.00"
    assert phone.locator("#cashier-fund").inner_text() == "¥24.90"
    assert phone.locator("#cashier-cash").inner_text() == "¥49.80"
    phone.locator("#cashier-pay").click()
    phone.wait_for_url("**/h5/medins/**")
    phone.locator("#medins-state", has_text="支付成功").wait_for(timeout=15000)
    assert phone.locator("#medins-account").inner_text() == "¥8.30"
    phone.locator("#to-bill").click()
    phone.locator("#receipt-no").wait_for(timeout=15000)
    assert phone.locator("#bill-status").inner_text() == "已缴费"


@pytest.mark.browser
def test_insurance_refused_reads_as_plain_chinese_and_the_bill_stays_payable(app, world, phone):
    app.services.medins_sandbox.insurance_outcome = "fail"
    try:
        bill = push_bill(world["his"], world["me"]["id"])
        login(phone, app, world["token"])
        phone.goto(f"{app.url}/h5/bills/{bill['id']}")
        phone.locator("#medins-pay-button").click()
        phone.wait_for_url("**/sandbox/medins/cashier/**")
        phone.locator("#cashier-pay").click()
        phone.wait_for_url("**/h5/medins/**")
        phone.locator("#medins-state", has_text="已撤销").wait_for(timeout=15000)
        phone.locator("#to-bill").click()
        phone.locator("#medins-pay-button").wait_for()
    finally:
        app.services.medins_sandbox.insurance_outcome = "success"
