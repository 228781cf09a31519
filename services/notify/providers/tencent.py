"""Tencent Cloud SMS `SendSms` (2021-01-11) with the TC3-HMAC-SHA256 signature.

POST / JSON; `TemplateParamSet` is the template's variables in declared order ({1},{2},…).
Success is per number: `SendStatusSet[i].Code == "Ok"`. A whole-call failure is
`Response.Error.Code`. Limits and internal errors retry; the rest is permanent.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from services.clock import Clock
from services.notify.config import NotifyConfig
from services.notify.providers import ChannelError, Delivery
from services.notify.providers.http import call
from services.notify.signing import tc3_authorization

ACTION, VERSION, SERVICE = "SendSms", "2021-01-11", "sms"
CONTENT_TYPE = "application/json; charset=utf-8"

RETRYABLE_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError",
                      "ResourceUnavailable", "AuthFailure.SignatureExpire",
                      "FailedOperation.InsufficientBalanceInSmsPackage")


def e164(phone: str) -> str:
    """+86… for mainland numbers given bare; numbers with a country code are kept."""
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    if digits.startswith("+"):
        return digits
    if digits.startswith("0086"):
        return "+" + digits[2:]
    if len(digits) == 13 and digits.startswith("86"):
        return "+" + digits
    return "+86" + digits


def _sorted(code: str, message: str) -> ChannelError:
    retryable = code.startswith(RETRYABLE_PREFIXES)
    return ChannelError(f"tencent:{code}", message or "腾讯云短信发送失败", retryable=retryable)


class TencentSms:
    name = "sms"
    provider = "tencent"

    def __init__(self, config: NotifyConfig, http: httpx.AsyncClient, clock: Clock):
        self.config = config
        self.http = http
        self.clock = clock
        self.endpoint = config.tencent_endpoint.rstrip("/") + "/"
        self.host = urlsplit(self.endpoint).netloc

    def request(self, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        """The signed request: (body bytes, headers)."""
        template_id = delivery.ids.tencent_id
        if not template_id:
            raise ChannelError("template_not_configured",
                               f"未配置腾讯云短信模板 ({delivery.template.name})", retryable=False)
        body = json.dumps({
            "PhoneNumberSet": [e164(delivery.phone or "")],
            "SmsSdkAppId": self.config.tencent_sms_app_id,
            "SignName": self.config.tencent_sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": [delivery.params[v] for v in delivery.template.variables],
            "SessionContext": delivery.message_id,
        }, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock.now().timestamp())
        signed = {"content-type": CONTENT_TYPE, "host": self.host}
        headers = {
            "Content-Type": CONTENT_TYPE, "Host": self.host, "X-TC-Action": ACTION,
            "X-TC-Version": VERSION, "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.config.tencent_region,
            "Authorization": tc3_authorization(self.config.tencent_secret_id,
                                               self.config.tencent_secret_key, SERVICE,
                                               timestamp, signed, body),
        }
        return body, headers

    async def deliver(self, delivery: Delivery) -> str:
        body, headers = self.request(delivery)
        status, data = await call(self.http, "POST", self.endpoint, headers=headers,
                                  content=body, timeout=self.config.provider_timeout_seconds)
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            raise ChannelError(f"http_{status}", "腾讯云短信返回无法识别", retryable=status >= 500)
        error = response.get("Error")
        if error:
            raise _sorted(str(error.get("Code", "")), str(error.get("Message", "")))
        statuses = response.get("SendStatusSet") or []
        if not statuses:
            raise ChannelError("tencent:empty_status", "腾讯云短信未返回发送状态", retryable=True)
        first = statuses[0]
        if first.get("Code") == "Ok":
            return str(first.get("SerialNo") or response.get("RequestId") or "")
        raise _sorted(str(first.get("Code", "")), str(first.get("Message", "")))
