"""Build the configured channels (sms, subscribe, official) over the shared httpx client."""

from __future__ import annotations

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from services.clock import Clock
from services.notify.config import NotifyConfig
from services.notify.providers import Channel
from services.notify.providers.aliyun import AliyunSms
from services.notify.providers.console import ConsoleChannel
from services.notify.providers.tencent import TencentSms
from services.notify.providers.wechat import TokenCache, WechatOfficial, WechatSubscribe


class ConfigurationError(ValueError):
    """A provider is selected without the settings it needs (raised at start-up)."""


def _require(config: NotifyConfig, *keys: str) -> None:
    missing = [k for k in keys if not getattr(config, k)]
    if missing:
        raise ConfigurationError("notify: missing settings " + ", ".join(
            f"[notify] {k} (PALM_NOTIFY_{k.upper()})" for k in missing))


def build_channels(config: NotifyConfig, http: httpx.AsyncClient, clock: Clock,
                   inbox: AsyncCollection) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, provider in (("sms", config.sms_provider),
                           ("subscribe", config.subscribe_provider),
                           ("official", config.official_provider)):
        if provider == "console":
            channels[name] = ConsoleChannel(name, inbox, clock)
    if config.sms_provider == "aliyun":
        _require(config, "aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_sign_name")
        channels["sms"] = AliyunSms(config, http, clock)
    elif config.sms_provider == "tencent":
        _require(config, "tencent_secret_id", "tencent_secret_key", "tencent_sms_app_id",
                 "tencent_sign_name")
        channels["sms"] = TencentSms(config, http, clock)
    timeout = config.provider_timeout_seconds
    if config.subscribe_provider == "wechat":
        _require(config, "miniprogram_appid", "miniprogram_secret")
        tokens = TokenCache(http, clock, config.wechat_endpoint, config.miniprogram_appid,
                            config.miniprogram_secret, timeout)
        channels["subscribe"] = WechatSubscribe(config, tokens, http)
    if config.official_provider == "wechat":
        _require(config, "official_appid", "official_secret")
        tokens = TokenCache(http, clock, config.wechat_endpoint, config.official_appid,
                            config.official_secret, timeout)
        channels["official"] = WechatOfficial(config, tokens, http)
    return channels
