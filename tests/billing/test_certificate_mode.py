"""平台证书 mode: the sandbox signs with a platform certificate's serial; our client and our
callback verifier download the certificate (GET /v3/certificates, AEAD-encrypted) the first
time they meet that serial, then verify with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.billing.helpers import (
    pay_at_cashier,
    post_callback,
    push_bill,
    signed_callback,
    start_payment,
    wait_for,
)
from tests.support import add_patient, device_client, patient_client


def certificate_for(private_key_pem: str, serial: int) -> str:
    """A self-signed certificate of the sandbox's platform key (made with `cryptography`)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (sandbox)")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def world(app):
    sandbox = app.services.wechatpay_sandbox
    sandbox.platform_certificate = certificate_for(sandbox.keys.platform_key_pem,
                                                   0x5B1F0E0D9C8A7F6E5D4C3B2A19)
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    me = add_patient(app, family, name="冯十一")
    return {"his": his, "family": family, "me": me, "serial": sandbox.signing_serial}


def test_callback_with_a_new_certificate_serial_fetches_the_certificate_then_verifies(world, app):
    verifier = app.services.payment_gateway.channels["sandbox"].creds.verifier
    assert not verifier.has(world["serial"])
    body, headers = signed_callback(app, {"out_trade_no": "PHNOTOURS0001", "mchid": "x",
                                          "appid": "x", "trade_state": "SUCCESS",
                                          "amount": {"total": 1}})
    assert headers["Wechatpay-Serial"] == world["serial"].upper()
    assert post_callback(app, body, headers).status_code == 204   # verified; unknown order flagged
    assert verifier.has(world["serial"])
    assert app.db.billing_flags.find_one({"_id": "unknown_order:PHNOTOURS0001"})


def test_an_unknown_certificate_serial_is_still_401(world, app):
    body, headers = signed_callback(app, {"out_trade_no": "PHNOTOURS0002"})
    headers["Wechatpay-Serial"] = "7A0B1C2D3E4F5A6B7C8D9E0F"
    assert post_callback(app, body, headers).status_code == 401


def test_paying_works_end_to_end_in_certificate_mode(world, app):
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    pay_at_cashier(app, order)
    wait_for(lambda: world["family"].get(f"/api/v1/bills/{bill['id']}").json()["status"] == "paid")


def test_client_meeting_an_unknown_serial_downloads_certificates_once_then_verifies(world, app):
    import dataclasses

    from services.payment import crypto
    from services.payment.client import WechatPayClient

    real = app.services.payment_gateway.channels["sandbox"].creds
    creds = dataclasses.replace(real, verifier=crypto.VerifierKeys(), public_key_id=None)
    client = WechatPayClient(app.services.http, creds, app.clock)
    bill = push_bill(world["his"], world["me"]["id"])
    order = start_payment(world["family"], bill["id"])
    tx = app.call(lambda s: client.query_order(order["out_trade_no"]))
    assert tx["trade_state"] == "NOTPAY" and creds.verifier.has(world["serial"])
