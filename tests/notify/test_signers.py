"""Signers against the published vectors (shared/PROTOCOLS.md §4 V5, V6) and cross-checked
with the providers' own SDKs (alibabacloud-openapi-util, tencentcloud-sdk-python-common)."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime
from types import SimpleNamespace

from alibabacloud_openapi_util.client import Client as AliyunUtil
from tencentcloud.common.sign import Sign as TencentSign

from services.clock import SettableClock
from services.notify import TEMPLATES, NotifyConfig
from services.notify.config import TemplateIds
from services.notify.providers import Delivery
from services.notify.providers.aliyun import AliyunSms
from services.notify.providers.tencent import TencentSms
from services.notify.signing import (
    acs3_authorization,
    canonical_query,
    sha256_hex,
    tc3_authorization,
    tc3_canonical_request,
    tc3_string_to_sign,
)

V5_PAYLOAD_HASH = "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"


def test_aliyun_acs3_matches_the_published_sdk_vector():
    # V5 as darabonba-openapi-util's test signs it: empty URI line, `empty` without `=`
    auth = acs3_authorization("GET", "", "empty&test=ok", {"x-acs-test": "http,https"},
                              V5_PAYLOAD_HASH, "acesskey", "secret")
    assert auth == ("ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
                    "Signature=da772425f29289d3460d5fc961455d40c5e8c6afd0888b78a910c991e6a14846")


def test_aliyun_acs3_doc_rules_agree_with_the_installed_sdk():
    Request = SimpleNamespace(pathname="/", method="GET", query={"test": "ok", "empty": ""},
                              headers={"x-acs-test": "http,https"})

    ours = acs3_authorization("GET", "/", canonical_query(Request.query), Request.headers,
                              V5_PAYLOAD_HASH, "acesskey", "secret")
    assert canonical_query(Request.query) == "empty=&test=ok"
    assert ours == AliyunUtil.get_authorization(Request, "ACS3-HMAC-SHA256", V5_PAYLOAD_HASH,
                                                "acesskey", "secret")


def test_aliyun_acs3_agrees_with_the_sdk_on_random_unicode_requests():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " -_.~*+/=&%:中文短信¥"
    for _ in range(50):
        query = {"".join(rng.choices(string.ascii_letters, k=6)):
                 "".join(rng.choices(alphabet, k=rng.randint(0, 20))) for _ in range(4)}

        Request = SimpleNamespace(pathname="/", method="POST", query=query, headers={
            "host": "dysmsapi.aliyuncs.com", "x-acs-action": "SendSms",
            "x-acs-date": "2026-12-01T01:00:00Z",
            "x-acs-signature-nonce": "".join(rng.choices(string.hexdigits, k=32))})
        payload = sha256_hex(b"")
        assert acs3_authorization("POST", "/", canonical_query(query), Request.headers, payload,
                                  "id", "sk") == AliyunUtil.get_authorization(
            Request, "ACS3-HMAC-SHA256", payload, "id", "sk")


def test_tencent_tc3_matches_the_published_vector():
    payload = json.dumps({"Limit": 1, "Filters": [{"Values": ["未命名"], "Name": "instance-name"}]})
    assert payload.startswith('{"Limit": 1, "Filters": [{"Values": ["\\u672a')
    body = payload.encode()
    headers = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
    assert sha256_hex(body) == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    request = tc3_canonical_request("POST", "", headers, body)
    assert sha256_hex(request.encode()) == \
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    auth = tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                             "Gu5t9xGARNpq86cd98joQYCN3*******", "cvm", 1551113065, headers, body)
    assert auth == ("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/"
                    "cvm/tc3_request, SignedHeaders=content-type;host, "
                    "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")


def test_tencent_tc3_signature_equals_the_sdks_sign_tc3():
    rng = random.Random(11)
    for _ in range(30):
        secret = "".join(rng.choices(string.ascii_letters + string.digits, k=32))
        ts = rng.randint(1_500_000_000, 1_900_000_000)
        body = json.dumps({"x": rng.random(), "短信": "测试"}, ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8",
                   "host": "sms.tencentcloudapi.com"}
        to_sign = tc3_string_to_sign(ts, "sms", tc3_canonical_request("POST", "", headers, body))
        date = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        ours = tc3_authorization("id", secret, "sms", ts, headers, body).rsplit("Signature=", 1)[1]
        assert ours == TencentSign.sign_tc3(secret, date, "sms", to_sign)


def _delivery(template="payment_succeeded", **ids):
    params = {"patient": "王*", "amount": "¥12.50", "item": "挂号费 & 诊查费"}
    return Delivery(message_id="m1", template=TEMPLATES[template], params=params, text="",
                    phone="13800138000", openid=None, ids=TemplateIds(**ids))


def test_our_aliyun_sendsms_request_verifies_with_the_sdk():
    config = NotifyConfig(sms_provider="aliyun", aliyun_access_key_id="AK",
                          aliyun_access_key_secret="SK", aliyun_sign_name="示范医院")
    clock = SettableClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    sms = AliyunSms(config, None, clock, nonce=lambda: "nonce-1")
    url, headers = sms.request(_delivery(aliyun_code="SMS_1"))
    from urllib.parse import parse_qsl, urlsplit
    parts = urlsplit(url)

    Request = SimpleNamespace(
        pathname=parts.path, method="POST", query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={k: v for k, v in headers.items() if k != "Authorization"})
    assert Request.query["TemplateParam"] == '{"patient":"王*","amount":"¥12.50","item":"挂号费 & 诊查费"}'
    assert headers["x-acs-date"] == "2026-12-01T01:00:00Z"
    assert headers["Authorization"] == AliyunUtil.get_authorization(
        Request, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], "AK", "SK")


def test_our_tencent_sendsms_request_verifies_with_the_sdk():
    config = NotifyConfig(sms_provider="tencent", tencent_secret_id="ID", tencent_secret_key="SK",
                          tencent_sms_app_id="1400", tencent_sign_name="示范医院")
    clock = SettableClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    body, headers = TencentSms(config, None, clock).request(_delivery(tencent_id="123"))
    assert json.loads(body)["TemplateParamSet"] == ["王*", "¥12.50", "挂号费 & 诊查费"]
    ts = int(headers["X-TC-Timestamp"])
    signed_lines = f"content-type:{headers['Content-Type']}\nhost:{headers['Host']}\n"
    canonical = "\n".join(["POST", "/", "", signed_lines, "content-type;host", sha256_hex(body)])
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(ts), "2026-12-01/sms/tc3_request",
                         sha256_hex(canonical.encode())])
    assert headers["Authorization"].endswith(
        "Signature=" + TencentSign.sign_tc3("SK", "2026-12-01", "sms", to_sign))
