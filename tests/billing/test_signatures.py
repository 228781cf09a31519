"""Our APIv3 signer and verifier against the published vectors and the independent
`wechatpayv3` package (built on `cryptography`, ours on pycryptodome), both ways."""

from __future__ import annotations

import json

import pytest
from Crypto.PublicKey import RSA
from wechatpayv3 import utils as wx

from services.payment import crypto
from tests.billing import vectors as v


@pytest.fixture(scope="module")
def merchant_key():
    return RSA.generate(2048)


def test_signer_reproduces_published_vector_v1():
    key = crypto.load_private_key(v.V1_PRIVATE_KEY)
    assert crypto.sign(key, v.V1_MESSAGE) == v.V1_SIGNATURE


def test_callback_vector_v2_verifies_by_certificate_serial_and_decrypts():
    keys = crypto.VerifierKeys()
    assert keys.add_certificate(v.V2_CERTIFICATE) == v.V2_SERIAL
    keys.verify(v.V2_SERIAL.lower(), v.V2_TIMESTAMP, v.V2_NONCE, v.V2_BODY, v.V2_SIGNATURE)
    resource = json.loads(v.V2_BODY)["resource"]
    plaintext = crypto.aead_decrypt(v.V2_APIV3_KEY, resource["nonce"], resource["associated_data"],
                                    resource["ciphertext"], require_aes256=False)
    assert plaintext.decode() == v.V2_PLAINTEXT


def test_vector_v2_fails_when_one_byte_of_the_body_changes():
    keys = crypto.VerifierKeys()
    keys.add_certificate(v.V2_CERTIFICATE)
    with pytest.raises(crypto.SignatureInvalid):
        keys.verify(v.V2_SERIAL, v.V2_TIMESTAMP, v.V2_NONCE, v.V2_BODY.replace("签约", "解约"),
                    v.V2_SIGNATURE)
    with pytest.raises(crypto.SignatureInvalid):
        keys.verify(v.V2_SERIAL, str(int(v.V2_TIMESTAMP) + 1), v.V2_NONCE, v.V2_BODY,
                    v.V2_SIGNATURE)


def test_signtest_probe_and_unknown_serial_are_refused():
    keys = crypto.VerifierKeys()
    keys.add_certificate(v.V2_CERTIFICATE)
    with pytest.raises(crypto.SignatureInvalid):
        keys.verify(v.V2_SERIAL, v.V2_TIMESTAMP, v.V2_NONCE, v.V2_BODY,
                    "WECHATPAY/SIGNTEST/" + v.V2_SIGNATURE)
    with pytest.raises(crypto.SignatureInvalid):
        keys.verify("ABCDEF", v.V2_TIMESTAMP, v.V2_NONCE, v.V2_BODY, v.V2_SIGNATURE)


def test_aes256_decryptor_refuses_a_key_that_is_not_32_bytes():
    resource = json.loads(v.V2_BODY)["resource"]
    with pytest.raises(crypto.DecryptFailed):
        crypto.aead_decrypt(v.V2_APIV3_KEY, resource["nonce"], resource["associated_data"],
                            resource["ciphertext"])


def test_our_request_signature_verifies_with_wechatpayv3(merchant_key):
    body = '{"mchid":"1900000109","amount":{"total":100,"currency":"CNY"},"description":"门诊缴费"}'
    header = crypto.authorization("1900000109", "5157F09EFDC096DE", merchant_key, "POST",
                                  "/v3/pay/transactions/jsapi", "1554208460",
                                  "593BEC0C930BF1AFEB40B4A08C8FB242", body)
    params = crypto.parse_authorization(header)
    public = wx.load_public_key(merchant_key.public_key().export_key().decode())
    message = f"POST\n/v3/pay/transactions/jsapi\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{body}\n"
    # wechatpayv3's rsa_verify checks ts\nnonce\nbody\n: feed it the same bytes as three "lines"
    ts, nonce, rest = message.split("\n", 2)
    assert wx.rsa_verify(ts, nonce, rest[:-1], params["signature"], public)


def test_wechatpayv3_signature_verifies_with_ours_and_matches_byte_for_byte(merchant_key):
    private = wx.load_private_key(merchant_key.export_key(pkcs=8).decode())
    message = "1624523846\nEcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz\n{\"id\":\"EV-1\",\"summary\":\"支付成功\"}\n"
    theirs = wx.rsa_sign(private, message)
    assert crypto.sign(merchant_key, message) == theirs   # PKCS#1 v1.5 is deterministic
    keys = crypto.VerifierKeys()
    keys.add_public_key("PUB_KEY_ID_0114232134912410000000000000",
                        merchant_key.public_key().export_key())
    keys.verify("PUB_KEY_ID_0114232134912410000000000000", "1624523846",
                "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", '{"id":"EV-1","summary":"支付成功"}', theirs)


def test_wechatpayv3_pay_sign_equals_ours(merchant_key):
    from datetime import UTC, datetime

    from services.clock import SettableClock
    from services.payment.client import WechatPayClient, WechatPayCredentials

    creds = WechatPayCredentials(mchid="1900000109", appid="wxd678efh567hg6787",
                                 merchant_serial="5157F09EFDC096DE", merchant_key=merchant_key,
                                 apiv3_key=b"0" * 32)
    clock = SettableClock(datetime.fromtimestamp(1414561699, UTC))
    client = WechatPayClient(None, creds, clock, nonce=lambda: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
    params = client.jsapi_pay_params("wx201410272009395522657a690389285100")
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert params["timeStamp"] == "1414561699" and params["signType"] == "RSA"
    private = wx.load_private_key(merchant_key.export_key(pkcs=8).decode())
    expected = wx.rsa_sign(private, "wxd678efh567hg6787\n1414561699\n"
                           "5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n")
    assert params["paySign"] == expected


def test_resources_encrypt_and_decrypt_across_implementations():
    key = "0123456789abcdef0123456789ABCDEF"
    ours = crypto.aead_encrypt(key.encode(), "nonce1234567", "transaction", '{"a":"支付"}'.encode())
    assert wx.aes_decrypt("nonce1234567", ours, "transaction", key) == '{"a":"支付"}'
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    theirs = base64.b64encode(AESGCM(key.encode()).encrypt(b"abcdefghijkl", b"{}", b"refund")).decode()
    assert crypto.aead_decrypt(key.encode(), "abcdefghijkl", "refund", theirs) == b"{}"
    with pytest.raises(crypto.DecryptFailed):
        crypto.aead_decrypt(key.encode(), "abcdefghijkl", "transaction", theirs)


def test_a_request_signed_by_wechatpayv3_passes_our_request_verification(merchant_key):
    private = wx.load_private_key(merchant_key.export_key(pkcs=8).decode())
    body = {"mchid": "1900000109", "out_trade_no": "PH2026120109000012AB34"}
    header = wx.build_authorization("/v3/refund/domestic/refunds", "POST", "1900000109",
                                    "5157F09EFDC096DE", private, data=body)
    params = crypto.parse_authorization(header)
    message = crypto.request_message("POST", "/v3/refund/domestic/refunds", params["timestamp"],
                                     params["nonce_str"], json.dumps(body))
    assert crypto.verify(merchant_key.public_key(), message, params["signature"])
    tampered = crypto.request_message("POST", "/v3/refund/domestic/refunds", params["timestamp"],
                                      params["nonce_str"], json.dumps({**body, "mchid": "1"}))
    assert not crypto.verify(merchant_key.public_key(), tampered, params["signature"])
