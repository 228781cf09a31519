"""Aliyun SMS `SendSms` (Dysmsapi 2017-05-25) with the ACS3-HMAC-SHA256 signature.

RPC style: POST / with the business parameters in the query string and an empty body.
Response `{"Code": "OK", "BizId": …}`; any other Code is sorted into retryable (system
errors, flow control) or permanent (bad number, template/signature not approved).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from services.clock import Clock
from services.notify.config import NotifyConfig
from services.notify.providers import ChannelError, Delivery
from services.notify.providers.http import call
from services.notify.signing import (
    EMPTY_SHA256,
    acs3_authorization,
    acs3_date,
    canonical_query,
)

ACTION, VERSION = "SendSms", "2017-05-25"

RETRYABLE = {
    "isp.SYSTEM_ERROR", "isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL",
    "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE", "Throttling", "Throttling.User",
    "Throttling.Api", "ServiceUnavailable", "InternalError", "SignatureNonceUsed",
    "InvalidTimeStamp.Expired",
}


def aliyun_phone(phone: str) -> str:
    """Aliyun takes bare mainland numbers (or +86…); strip spaces and dashes."""
    return "".join(c for c in phone if c.isdigit() or c == "+")


class AliyunSms:
    name = "sms"
    provider = "aliyun"

    def __init__(self, config: NotifyConfig, http: httpx.AsyncClient, clock: Clock,
                 nonce: Callable[[], str] = lambda: uuid.uuid4().hex):
        self.config = config
        self.http = http
        self.clock = clock
        self.nonce = nonce
        self.endpoint = config.aliyun_endpoint.rstrip("/") + "/"
        self.host = urlsplit(self.endpoint).netloc

    def request(self, delivery: Delivery) -> tuple[str, dict[str, str]]:
        """The signed request: (URL with query, headers)."""
        code = delivery.ids.aliyun_code
        if not code:
            raise ChannelError("template_not_configured",
                               f"未配置阿里云短信模板 ({delivery.template.name})", retryable=False)
        params = {
            "PhoneNumbers": aliyun_phone(delivery.phone or ""),
            "SignName": self.config.aliyun_sign_name,
            "TemplateCode": code,
            "TemplateParam": json.dumps(dict(delivery.params), ensure_ascii=False,
                                        separators=(",", ":")),
            "OutId": delivery.message_id,
        }
        query = canonical_query(params)
        signed = {
            "host": self.host, "x-acs-action": ACTION, "x-acs-version": VERSION,
            "x-acs-date": acs3_date(self.clock.now()), "x-acs-signature-nonce": self.nonce(),
            "x-acs-content-sha256": EMPTY_SHA256,
        }
        headers = dict(signed)
        headers["Authorization"] = acs3_authorization(
            "POST", "/", query, signed, EMPTY_SHA256, self.config.aliyun_access_key_id,
            self.config.aliyun_access_key_secret)
        return f"{self.endpoint}?{query}", headers

    async def deliver(self, delivery: Delivery) -> str:
        url, headers = self.request(delivery)
        # the URL is already encoded exactly as signed: hand httpx the raw target
        status, data = await call(self.http, "POST", url, headers=headers, content=b"",
                                  timeout=self.config.provider_timeout_seconds)
        code = (data or {}).get("Code") if isinstance(data, dict) else None
        if status == 200 and code == "OK":
            return str(data.get("BizId") or data.get("RequestId") or "")
        message = str((data or {}).get("Message", "")) if isinstance(data, dict) else ""
        code = code or f"http_{status}"
        retryable = code in RETRYABLE or code.startswith(("Throttling", "isp."))
        raise ChannelError(f"aliyun:{code}", message or "阿里云短信发送失败", retryable=retryable)
