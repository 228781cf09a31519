"""Patient login API: SMS code, login (sets the H5 session cookie), logout, account, WeChat.

The H5 session cookie `palm_session` is HttpOnly and SameSite=Lax (Secure outside
development); the `_xsrf` cookie that the pages' JS echoes in X-XSRFToken is set with it.
"""

from __future__ import annotations

from pydantic import Field

from handlers.auth import PATIENT, SESSION_COOKIE
from handlers.base import PUBLIC, ApiHandler, BaseHandler, api
from services.identity import LoginResult
from services.identity.patients import PHONE_PATTERN
from services.models import ApiModel, OutModel

WECHAT_TICKET_COOKIE = "palm_wechat_ticket"


class SmsCodeIn(ApiModel):
    phone: str = Field(pattern=PHONE_PATTERN)


class SmsCodeOut(OutModel):
    expires_in: int     # seconds the code stays valid
    resend_in: int      # seconds before another code may be requested


class LoginIn(ApiModel):
    phone: str = Field(pattern=PHONE_PATTERN)
    code: str = Field(pattern=r"^\d{6}$")
    wechat_ticket: str | None = Field(default=None, max_length=512)


class AccountOut(OutModel):
    id: str
    phone: str              # masked: 138****5678
    wechat_bound: bool


class LoginOut(OutModel):
    token: str
    account: AccountOut


class WechatLoginIn(ApiModel):
    js_code: str = Field(min_length=1, max_length=128)


class WechatLoginOut(OutModel):
    bound: bool                         # False: log in by phone once, passing wechat_ticket
    token: str | None = None
    account: AccountOut | None = None
    wechat_ticket: str | None = None


class LogoutAllOut(OutModel):
    sessions_ended: int


def set_session_cookie(handler: BaseHandler, token: str) -> None:
    """The H5 session cookie (HttpOnly, SameSite=Lax, Secure outside development) + `_xsrf`."""
    development = handler.settings.get("development", True)
    handler.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=not development,
                       expires_days=handler.services.identity.config.session_days, path="/")
    handler.xsrf_token  # noqa: B018 - reading it sets the `_xsrf` cookie for the pages' JS


class SmsCodeHandler(ApiHandler):
    @api(auth=PUBLIC, body=SmsCodeIn, response=SmsCodeOut, errors=(429,),
         summary="获取登录验证码", tags=("auth",))
    async def post(self, body: SmsCodeIn):
        """Text a six-digit login code (1 a minute, 10 a day per phone; limited per IP)."""
        return await self.services.login.send_code(body.phone, self.client_ip)


class LoginHandler(ApiHandler):
    @api(auth=PUBLIC, body=LoginIn, response=LoginOut, errors=(422, 429),
         summary="验证码登录", tags=("auth",))
    async def post(self, body: LoginIn):
        """Phone + code → a session token (also set as the H5 cookie); binds a WeChat ticket."""
        cookie_ticket = self.get_cookie(WECHAT_TICKET_COOKIE) or None
        result = await self.services.login.login_with_code(
            body.phone, body.code, self.client_ip, body.wechat_ticket or cookie_ticket,
            ticket_required=body.wechat_ticket is not None)
        if self.get_cookie(WECHAT_TICKET_COOKIE):
            self.clear_cookie(WECHAT_TICKET_COOKIE, path="/")
        set_session_cookie(self, result.token or "")
        return LoginOut(token=result.token or "", account=AccountOut(**result.account or {}))


class LogoutHandler(ApiHandler):
    @api(auth=PATIENT, status=204, summary="退出登录", tags=("auth",))
    async def post(self):
        """End this session and clear the H5 cookie."""
        await self.services.identity.logout(self.actor.session_id or "")
        self.clear_cookie(SESSION_COOKIE, path="/")


class LogoutAllHandler(ApiHandler):
    @api(auth=PATIENT, response=LogoutAllOut, summary="退出所有设备", tags=("auth",))
    async def post(self):
        """End every session of this account (all phones and browsers)."""
        ended = await self.services.identity.logout_everywhere("patient", self.actor.id or "")
        self.clear_cookie(SESSION_COOKIE, path="/")
        return LogoutAllOut(sessions_ended=ended)


class AccountHandler(ApiHandler):
    @api(auth=PATIENT, response=AccountOut, summary="我的账号", tags=("auth",))
    async def get(self):
        """The signed-in account: masked phone, whether WeChat is bound."""
        return await self.services.identity.account_summary(self.actor.id or "")


class MiniProgramLoginHandler(ApiHandler):
    @api(auth=PUBLIC, body=WechatLoginIn, response=WechatLoginOut, errors=(422, 429),
         summary="小程序登录（wx.login code）", tags=("auth",))
    async def post(self, body: WechatLoginIn):
        """A wx.login code → a session if this WeChat user is bound, else a ticket to bind."""
        return wechat_out(await self.services.login.login_with_miniprogram(body.js_code, self.client_ip))


def wechat_out(result: LoginResult) -> WechatLoginOut:
    if result.token is None:
        return WechatLoginOut(bound=False, wechat_ticket=result.wechat_ticket)
    return WechatLoginOut(bound=True, token=result.token, account=AccountOut(**result.account or {}))


routes = [
    (r"/api/v1/auth/sms-code", SmsCodeHandler),
    (r"/api/v1/auth/login", LoginHandler),
    (r"/api/v1/auth/logout", LogoutHandler),
    (r"/api/v1/auth/logout-all", LogoutAllHandler),
    (r"/api/v1/auth/wechat/miniprogram", MiniProgramLoginHandler),
    (r"/api/v1/account", AccountHandler),
]
