"""`[notify]` settings: providers, routing, limits, quiet hours, retries, credentials.

Credentials are never committed: set them in the environment, e.g.
PALM_NOTIFY_ALIYUN_ACCESS_KEY_SECRET, PALM_NOTIFY_TENCENT_SECRET_KEY,
PALM_NOTIFY_MINIPROGRAM_SECRET, PALM_NOTIFY_OFFICIAL_SECRET (server/settings.py maps
PALM_<SECTION>_<KEY> onto this section).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal["subscribe", "official", "sms"]


class TemplateIds(BaseModel):
    """Provider-side ids of one template (each provider approves its own copy)."""

    model_config = ConfigDict(extra="forbid")
    aliyun_code: str = ""            # Aliyun TemplateCode, e.g. SMS_123456789
    tencent_id: str = ""             # Tencent TemplateId (numeric string)
    subscribe_id: str = ""           # mini-program subscribe message template_id
    official_id: str = ""            # 公众号 template message template_id
    wechat_fields: dict[str, str] = {}   # WeChat data key → our variable, e.g. thing1 = "department"
    page: str = ""                   # mini-program page (subscribe) / pagepath
    url: str = ""                    # 公众号 template message link


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # providers: "console" delivers to the dev inbox; "none" disables a channel
    sms_provider: Literal["console", "aliyun", "tencent", "none"] = "console"
    subscribe_provider: Literal["console", "wechat", "none"] = "none"
    official_provider: Literal["console", "wechat", "none"] = "none"

    # routing: channels tried in order; a template can have its own route
    route: list[Channel] = ["subscribe", "sms"]
    template_routes: dict[str, list[Channel]] = {"login_code": ["sms"]}

    # per-recipient limits for non-urgent SMS, and quiet hours (Asia/Shanghai)
    sms_per_minute: int = Field(1, ge=1)
    sms_per_day: int = Field(10, ge=1)
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    # console deliveries skip quiet hours and limits so dev/test runs are deterministic
    console_exempt: bool = True

    # retries and leases
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(30.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    backoff_jitter: float = Field(0.5, ge=0, le=1)   # delay × (1 − jitter·random())
    lease_seconds: float = Field(60.0, gt=0)
    batch: int = Field(50, ge=1)
    poll_seconds: float = Field(1.0, gt=0)
    provider_timeout_seconds: float = Field(5.0, gt=0)   # per provider request

    # Aliyun SMS (ACS3-HMAC-SHA256)
    aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com"
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_sign_name: str = ""

    # Tencent Cloud SMS 2021-01-11 (TC3-HMAC-SHA256)
    tencent_endpoint: str = "https://sms.tencentcloudapi.com"
    tencent_region: str = "ap-guangzhou"
    tencent_secret_id: str = ""
    tencent_secret_key: str = ""
    tencent_sms_app_id: str = ""
    tencent_sign_name: str = ""

    # WeChat: mini program (subscribe messages) and 公众号 (template messages)
    wechat_endpoint: str = "https://api.weixin.qq.com"
    miniprogram_appid: str = ""
    miniprogram_secret: str = ""
    miniprogram_state: Literal["developer", "trial", "formal"] = "formal"
    official_appid: str = ""
    official_secret: str = ""

    templates: dict[str, TemplateIds] = {}

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("应为 HH:MM")
        return value

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> NotifyConfig:
        # a message's channels (and a token refresh) must finish inside its lease, or a
        # second dispatcher could take it over while the first is still sending
        if self.lease_seconds < 4 * self.provider_timeout_seconds + 5:
            raise ValueError("lease_seconds must exceed 4 × provider_timeout_seconds + 5")
        return self

    def route_for(self, template: str) -> list[str]:
        return list(self.template_routes.get(template, self.route))

    def ids_for(self, template: str) -> TemplateIds:
        return self.templates.get(template) or TemplateIds()
