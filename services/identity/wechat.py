"""WeChat login over HTTP: 公众号 H5 OAuth2 (snsapi_base) and mini-program code2Session.

Endpoints are configuration (`[identity] wechat_authorize_url`, `wechat_api_base`), so
tests point them at a local server that speaks WeChat's protocol and production at
open.weixin.qq.com / api.weixin.qq.com. The app secrets come from the environment
(PALM_IDENTITY_WECHAT_OFFICIAL_SECRET, PALM_IDENTITY_WECHAT_MINIPROGRAM_SECRET).

WeChat answers errors as HTTP 200 with `{"errcode": N, "errmsg": ...}` (jscode2session
even with Content-Type text/plain), so the body is parsed whatever the content type.
The mini-program `session_key` is never stored nor sent to the client.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from services.errors import BusinessRuleViolation, DependencyUnavailable, Forbidden

log = logging.getLogger("palm.identity.wechat")

# errcodes meaning "this code is no good": invalid, already used, expired.
_BAD_CODE = {40029, 40163, 41008}
# errcodes meaning "try again later": system busy, frequency limits.
_BUSY = {-1, 45011, 45009}


@dataclass(frozen=True)
class WechatIdentity:
    appid: str
    openid: str
    unionid: str | None = None


class WechatClient:
    def __init__(self, http: httpx.AsyncClient, authorize_url: str, api_base: str,
                 official_appid: str, official_secret: str,
                 miniprogram_appid: str, miniprogram_secret: str):
        self.http = http
        self.authorize_url = authorize_url
        self.api_base = api_base.rstrip("/")
        self.official = (official_appid, official_secret)
        self.miniprogram = (miniprogram_appid, miniprogram_secret)

    @property
    def h5_enabled(self) -> bool:
        return all(self.official)

    @property
    def miniprogram_enabled(self) -> bool:
        return all(self.miniprogram)

    def authorize_redirect(self, redirect_uri: str, state: str) -> str:
        """WeChat's silent (snsapi_base) authorize URL; `state` is our CSRF token."""
        if not self.h5_enabled:
            raise BusinessRuleViolation("wechat_login_disabled", "本院暂未开通微信登录")
        query = urlencode({"appid": self.official[0], "redirect_uri": redirect_uri,
                           "response_type": "code", "scope": "snsapi_base", "state": state})
        return f"{self.authorize_url}?{query}#wechat_redirect"

    async def oauth_identity(self, code: str) -> WechatIdentity:
        """Exchange an H5 OAuth2 code for the user's openid (the code is single-use)."""
        if not self.h5_enabled:
            raise BusinessRuleViolation("wechat_login_disabled", "本院暂未开通微信登录")
        appid, secret = self.official
        data = await self._get("/sns/oauth2/access_token", {
            "appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"})
        if str(data.get("is_snapshotuser", "0")) == "1":
            # 快照页 "virtual" users share nothing with the real user: never bind them
            raise BusinessRuleViolation("wechat_snapshot_user", "请点击页面下方“使用完整服务”后再登录")
        return WechatIdentity(appid, _openid(data), data.get("unionid"))

    async def miniprogram_identity(self, js_code: str) -> WechatIdentity:
        """Exchange a mini-program wx.login code for the openid (session_key is discarded)."""
        if not self.miniprogram_enabled:
            raise BusinessRuleViolation("wechat_login_disabled", "本院暂未开通小程序登录")
        appid, secret = self.miniprogram
        data = await self._get("/sns/jscode2session", {
            "appid": appid, "secret": secret, "js_code": js_code,
            "grant_type": "authorization_code"})
        return WechatIdentity(appid, _openid(data), data.get("unionid"))

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self.http.get(self.api_base + path, params=params)
        except httpx.HTTPError as error:
            log.warning("wechat %s unreachable: %s", path, type(error).__name__)
            raise DependencyUnavailable("wechat_unavailable", "微信服务暂时不可用，请稍后再试") from None
        if response.status_code >= 500:
            log.warning("wechat %s answered HTTP %s", path, response.status_code)
            raise DependencyUnavailable("wechat_unavailable", "微信服务暂时不可用，请稍后再试")
        try:
            data = json.loads(response.text)
        except ValueError:
            log.warning("wechat %s answered a non-JSON body (HTTP %s)", path, response.status_code)
            raise DependencyUnavailable("wechat_unavailable", "微信服务暂时不可用，请稍后再试") from None
        errcode = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
        if errcode == 0 and isinstance(data, dict):
            return data
        if errcode in _BAD_CODE:
            raise BusinessRuleViolation("wechat_code_invalid", "微信授权已失效，请重新进入页面",
                                        details={"errcode": errcode})
        if errcode == 40226:
            raise Forbidden("wechat_user_blocked", "该微信账号存在风险，暂时无法登录")
        if errcode in _BUSY:
            raise DependencyUnavailable("wechat_busy", "微信服务繁忙，请稍后再试")
        # 40013 invalid appid, 40125 invalid secret, ...: our configuration is wrong
        log.warning("wechat %s refused: errcode %s", path, errcode)
        raise DependencyUnavailable("wechat_unavailable", "微信服务暂时不可用，请稍后再试")


def _openid(data: dict[str, Any]) -> str:
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        raise DependencyUnavailable("wechat_unavailable", "微信服务暂时不可用，请稍后再试")
    return openid
