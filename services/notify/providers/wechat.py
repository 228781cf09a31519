"""WeChat: mini-program subscribe messages and 公众号 template messages.

Both need an access_token per appid, fetched from `/cgi-bin/stable_token` and cached
until shortly before it expires; a send answered with errcode 40001 / 40014 / 42001
(token invalid or expired) refreshes the token once and retries once.
errcode 43101 (user has no subscription left), 43004 (not following the 公众号) and
40003 (openid unknown to this app) mean this channel cannot reach the user: the
dispatcher falls back to the next channel (SMS). -1 / 45009 / 45011 retry later.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.clock import Clock
from services.notify.config import NotifyConfig
from services.notify.providers import ChannelError, Delivery
from services.notify.providers.http import call

TOKEN_INVALID = {40001, 40014, 42001}
FALLBACK = {43101, 43004, 40003}
RETRYABLE = {-1, 45009, 45011, 45047}
# value length limits of WeChat subscribe-message field types
FIELD_LIMITS = {"thing": 20, "name": 10, "phrase": 5, "character_string": 32, "letter": 32,
                "car_number": 8, "phone_number": 17, "amount": 32, "number": 32}


class TokenCache:
    """access_token of one appid, refreshed on expiry and on demand."""

    MARGIN = timedelta(seconds=120)

    def __init__(self, http: httpx.AsyncClient, clock: Clock, base_url: str, appid: str,
                 secret: str, timeout: float):
        self.http = http
        self.clock = clock
        self.url = base_url.rstrip("/") + "/cgi-bin/stable_token"
        self.appid = appid
        self.secret = secret
        self.timeout = timeout
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        async with self._lock:
            if self._token and self._expires and self.clock.now() < self._expires - self.MARGIN:
                return self._token
            return await self._fetch(force=False)

    async def refresh(self, rejected: str) -> str:
        """A new token after `rejected` was refused (force only if WeChat hands it back)."""
        async with self._lock:
            if self._token and self._token != rejected:
                return self._token        # another caller already refreshed it
            token = await self._fetch(force=False)
            if token == rejected:
                token = await self._fetch(force=True)
            return token

    async def _fetch(self, force: bool) -> str:
        self.fetches += 1
        _, data = await call(self.http, "POST", self.url, timeout=self.timeout, json={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
            "force_refresh": force})
        if not isinstance(data, dict) or not data.get("access_token"):
            errcode = data.get("errcode") if isinstance(data, dict) else None
            raise ChannelError(f"wechat:{errcode}", f"获取 access_token 失败 ({errcode})",
                               retryable=errcode in RETRYABLE or errcode is None)
        self._token = str(data["access_token"])
        self._expires = self.clock.now() + timedelta(seconds=int(data.get("expires_in", 7200)))
        return self._token


def message_data(delivery: Delivery) -> dict[str, dict[str, str]]:
    """`data` for WeChat: configured field ids (thing1, time2, …) → our variables."""
    fields = delivery.ids.wechat_fields or {v: v for v in delivery.template.variables}
    data = {}
    for key, variable in fields.items():
        value = str(delivery.params.get(variable, ""))
        kind = key.rstrip("0123456789")
        limit = FIELD_LIMITS.get(kind)
        if limit and len(value) > limit:
            value = value[: limit - 1] + "…"
        data[key] = {"value": value}
    return data


class _WechatChannel:
    provider = "wechat"
    path = ""
    name = ""

    def __init__(self, config: NotifyConfig, tokens: TokenCache, http: httpx.AsyncClient):
        self.config = config
        self.tokens = tokens
        self.http = http
        self.url = config.wechat_endpoint.rstrip("/") + self.path

    def body(self, delivery: Delivery) -> dict[str, Any]:
        raise NotImplementedError

    async def deliver(self, delivery: Delivery) -> str:
        if not delivery.openid:
            raise ChannelError("no_openid", "没有微信 openid", retryable=False, fallback=True)
        body = self.body(delivery)
        token = await self.tokens.get()
        data = await self._post(token, body)
        if data.get("errcode") in TOKEN_INVALID:
            token = await self.tokens.refresh(token)
            data = await self._post(token, body)
        errcode = data.get("errcode", 0)
        if errcode == 0:
            return str(data.get("msgid") or "")
        message = str(data.get("errmsg", ""))
        raise ChannelError(f"wechat:{errcode}", message or "微信消息发送失败",
                           retryable=errcode in RETRYABLE or errcode in TOKEN_INVALID,
                           fallback=errcode in FALLBACK)

    async def _post(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        _, data = await call(self.http, "POST", self.url, params={"access_token": token},
                             json=body, timeout=self.config.provider_timeout_seconds)
        if not isinstance(data, dict):
            raise ChannelError("wechat:bad_response", "微信返回无法识别", retryable=True)
        return data


class WechatSubscribe(_WechatChannel):
    """Mini-program 订阅消息 (one-time subscriptions are consumed per send)."""

    name = "subscribe"
    path = "/cgi-bin/message/subscribe/send"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        if not delivery.ids.subscribe_id:
            raise ChannelError("template_not_configured", "未配置订阅消息模板",
                               retryable=False, fallback=True)
        body: dict[str, Any] = {
            "touser": delivery.openid, "template_id": delivery.ids.subscribe_id,
            "data": message_data(delivery), "miniprogram_state": self.config.miniprogram_state,
            "lang": "zh_CN"}
        if delivery.ids.page:
            body["page"] = delivery.ids.page
        return body


class WechatOfficial(_WechatChannel):
    """公众号 模板消息; client_msg_id = our message id, so WeChat drops a repeat."""

    name = "official"
    path = "/cgi-bin/message/template/send"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        if not delivery.ids.official_id:
            raise ChannelError("template_not_configured", "未配置公众号模板消息",
                               retryable=False, fallback=True)
        body: dict[str, Any] = {
            "touser": delivery.openid, "template_id": delivery.ids.official_id,
            "data": message_data(delivery), "client_msg_id": delivery.message_id}
        link = delivery.ids.url or delivery.params.get("link", "")
        if link:
            body["url"] = link
        return body
