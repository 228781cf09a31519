"""Patient login: SMS one-time codes, WeChat (H5 OAuth2 and mini program), openid binding.

Collections (owned here):
    login_codes       {_id: phone blind index, code_hash, expires_at, failures,
                       last_sent_at, day "YYYY-MM-DD" (Asia/Shanghai), day_count, purge_at (TTL)}
    login_limits      per-IP fixed-window counters (limits.WindowCounter)
    wechat_bindings   {_id: "<appid>:<openid>", appid, openid, account_id, bound_at}

A login code is six digits, valid `sms_code_minutes`, stored only as a keyed HMAC (a
database dump does not reveal it, and 10^6 candidates cannot be tried offline without
the index key). Sending is limited per phone (one a minute, ten a local day: one
conditional update on the phone's document) and per IP; verifying kills the code after
`sms_code_max_failures` wrong tries and consumes it atomically on success, so a code
works once. Failed verifications are also counted per IP.

WeChat: an openid is bound to the account that first logs in by phone with a WeChat
ticket (a signed, short-lived token naming the openid, handed out when WeChat
recognises nobody); afterwards WeChat alone logs that account in.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from bson import ObjectId
from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock, at_local, local
from services.crypto import FieldCipher, TokenSigner
from services.errors import BusinessRuleViolation, RateLimited
from services.identity.limits import WindowCounter
from services.identity.service import IdentityService
from services.identity.wechat import WechatClient, WechatIdentity
from services.jobs import utc_floor
from services.notify import NotifyService, Recipient

log = logging.getLogger("palm.identity.login")

HOUR = timedelta(hours=1)


class LoginConfig(BaseModel):
    """`[identity]` keys for login (the same section as IdentityConfig)."""

    sms_code_minutes: int = 5
    sms_code_max_failures: int = 5
    sms_resend_seconds: int = 60
    sms_codes_per_day: int = 10
    sms_sends_per_ip_per_hour: int = 30
    login_failures_per_ip_per_hour: int = 60
    wechat_ticket_minutes: int = 10
    wechat_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_official_appid: str = ""
    wechat_official_secret: str = ""       # PALM_IDENTITY_WECHAT_OFFICIAL_SECRET
    wechat_miniprogram_appid: str = ""
    wechat_miniprogram_secret: str = ""    # PALM_IDENTITY_WECHAT_MINIPROGRAM_SECRET


@dataclass(frozen=True)
class LoginResult:
    """A new session (token shown once) for an account, or a WeChat ticket to bind first."""

    token: str | None
    account: dict[str, Any] | None
    wechat_ticket: str | None = None


class LoginService:
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher, signer: TokenSigner,
                 http: httpx.AsyncClient, identity: IdentityService, notify: NotifyService,
                 config: LoginConfig):
        self.codes = db["login_codes"]
        self.bindings = db["wechat_bindings"]
        self.limits = WindowCounter(db["login_limits"])
        self.clock = clock
        self.cipher = cipher
        self.signer = signer
        self.identity = identity
        self.notify = notify
        self.config = config
        self.wechat = WechatClient(http, config.wechat_authorize_url, config.wechat_api_base,
                                   config.wechat_official_appid, config.wechat_official_secret,
                                   config.wechat_miniprogram_appid, config.wechat_miniprogram_secret)

    async def ensure_indexes(self) -> None:
        await self.codes.create_index("purge_at", expireAfterSeconds=0)
        await self.bindings.create_index("account_id")
        await self.limits.ensure_indexes()

    # ---- SMS codes --------------------------------------------------------------------

    def _code_hash(self, phone_bidx: str, code: str) -> str:
        return self.cipher.blind_index(f"{phone_bidx}:{code}", "login_code")

    async def send_code(self, phone: str, ip: str) -> dict[str, int]:
        """Text a new six-digit login code (rate limited per phone and per IP)."""
        now = utc_floor(self.clock.now())
        await self.limits.hit("sms_ip", self.cipher.blind_index(ip, "ip"),
                              self.config.sms_sends_per_ip_per_hour, HOUR, now,
                              "获取验证码过于频繁，请稍后再试")
        bidx = self.cipher.blind_index(phone, "phone")
        code = f"{secrets.randbelow(10 ** 6):06d}"
        await self._store_code(bidx, code, now)
        minutes = self.config.sms_code_minutes
        await self.notify.send("auth.login_code", Recipient(phone=phone), "login_code",
                               {"code": code, "minutes": str(minutes)},
                               dedup_key=f"login_code:{bidx}:{int(now.timestamp() * 1000)}",
                               urgent=True)
        return {"expires_in": minutes * 60, "resend_in": self.config.sms_resend_seconds}

    async def _store_code(self, bidx: str, code: str, now: datetime) -> None:
        """Replace the phone's code if its minute and day limits allow (one conditional update)."""
        day = local(now).date().isoformat()
        resend_after = now - timedelta(seconds=self.config.sms_resend_seconds)
        gap_passed = {"$or": [{"last_sent_at": None}, {"last_sent_at": {"$lte": resend_after}}]}
        fresh = {"code_hash": self._code_hash(bidx, code), "failures": 0, "last_sent_at": now,
                 "expires_at": now + timedelta(minutes=self.config.sms_code_minutes),
                 "purge_at": now + timedelta(days=2)}
        same_day = await self.codes.update_one(
            {"$and": [{"_id": bidx, "day": day, "day_count": {"$lt": self.config.sms_codes_per_day}},
                      gap_passed]},
            {"$set": fresh, "$inc": {"day_count": 1}})
        if same_day.modified_count:
            return
        new_day = await self.codes.update_one(
            {"$and": [{"_id": bidx, "day": {"$ne": day}}, gap_passed]},
            {"$set": {**fresh, "day": day, "day_count": 1}})
        if new_day.modified_count:
            return
        try:
            await self.codes.insert_one({"_id": bidx, **fresh, "day": day, "day_count": 1})
            return
        except DuplicateKeyError:
            pass
        doc = await self.codes.find_one({"_id": bidx}) or {}
        if doc.get("day") == day and doc.get("day_count", 0) >= self.config.sms_codes_per_day:
            tomorrow = at_local(local(now).date() + timedelta(days=1), time(0, 0))
            raise RateLimited(message="今日获取验证码次数已达上限，请明天再试",
                              retry_after=int((tomorrow - now).total_seconds()) + 1)
        last = doc.get("last_sent_at") or now
        wait = last + timedelta(seconds=self.config.sms_resend_seconds) - now
        raise RateLimited(message="验证码已发送，请稍后再获取",
                          retry_after=int(wait.total_seconds()) + 1)

    async def _consume_code(self, phone: str, code: str, now: datetime) -> None:
        """Use the phone's code once; count a wrong try (the last allowed one kills it)."""
        bidx = self.cipher.blind_index(phone, "phone")
        live = {"_id": bidx, "code_hash": {"$ne": None}, "expires_at": {"$gt": now},
                "failures": {"$lt": self.config.sms_code_max_failures}}
        used = await self.codes.find_one_and_update(
            {**live, "code_hash": self._code_hash(bidx, code)},
            {"$set": {"code_hash": None, "used_at": now}})
        if used is not None:
            return
        wrong = await self.codes.find_one_and_update(
            live, {"$inc": {"failures": 1}}, return_document=ReturnDocument.AFTER)
        if wrong is None:
            doc = await self.codes.find_one({"_id": bidx}, {"last_sent_at": 1})
            if doc is None or doc.get("last_sent_at") is None:
                raise BusinessRuleViolation("code_invalid", "验证码不正确，请先获取验证码")
            raise BusinessRuleViolation("code_expired", "验证码已失效，请重新获取")
        left = self.config.sms_code_max_failures - wrong["failures"]
        if left <= 0:
            await self.codes.update_one(
                {"_id": bidx, "failures": {"$gte": self.config.sms_code_max_failures}},
                {"$set": {"code_hash": None}})
            raise BusinessRuleViolation("code_invalid", "验证码错误次数过多，已失效，请重新获取",
                                        details={"attempts_left": 0})
        raise BusinessRuleViolation("code_invalid", f"验证码不正确，还可以再试 {left} 次",
                                    details={"attempts_left": left})

    async def login_with_code(self, phone: str, code: str, ip: str,
                              wechat_ticket: str | None = None,
                              ticket_required: bool = True) -> LoginResult:
        """Phone + code → a patient session (account created on first login; binds WeChat).

        A bad or expired ticket is refused (422 `wechat_ticket_invalid`) before the code is
        spent; with `ticket_required=False` (the H5 ticket cookie) it is simply ignored.
        """
        now = utc_floor(self.clock.now())
        ip_key = self.cipher.blind_index(ip, "ip")
        limit = self.config.login_failures_per_ip_per_hour
        message = "登录失败次数过多，请稍后再试"
        await self.limits.check("login_fail_ip", ip_key, limit, HOUR, now, message)
        wechat = None
        if wechat_ticket:
            try:
                wechat = self._read_ticket(wechat_ticket)
            except BusinessRuleViolation:
                if ticket_required:
                    raise
        try:
            await self._consume_code(phone, code, now)
        except BusinessRuleViolation:
            await self.limits.hit("login_fail_ip", ip_key, limit, HOUR, now, message)
            raise
        account = await self.identity.account_for_phone(phone)
        account_id = str(account["_id"])
        if wechat is not None:
            await self.bind_openid(account_id, wechat)
        return await self._session(account_id, ip)

    async def _session(self, account_id: str, ip: str) -> LoginResult:
        token = await self.identity.create_session("patient", account_id, ip)
        return LoginResult(token=token, account=await self.identity.account_summary(account_id))

    # ---- WeChat -----------------------------------------------------------------------

    def wechat_authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser for a silent 公众号 OAuth2 (snsapi_base)."""
        return self.wechat.authorize_redirect(redirect_uri, state)

    @property
    def wechat_h5_enabled(self) -> bool:
        return self.wechat.h5_enabled

    async def login_with_wechat_h5(self, code: str, ip: str) -> LoginResult:
        """An H5 OAuth2 callback code → a session if the openid is bound, else a ticket."""
        return await self._login_openid(await self.wechat.oauth_identity(code), ip)

    async def login_with_miniprogram(self, js_code: str, ip: str) -> LoginResult:
        """A mini-program wx.login code → a session if the openid is bound, else a ticket."""
        return await self._login_openid(await self.wechat.miniprogram_identity(js_code), ip)

    async def _login_openid(self, wechat: WechatIdentity, ip: str) -> LoginResult:
        binding = await self.bindings.find_one({"_id": f"{wechat.appid}:{wechat.openid}"})
        if binding is not None:
            return await self._session(binding["account_id"], ip)
        expires = self.clock.now().timestamp() + self.config.wechat_ticket_minutes * 60
        ticket = self.signer.sign("wechat_bind", {"a": wechat.appid, "o": wechat.openid}, expires)
        return LoginResult(token=None, account=None, wechat_ticket=ticket)

    def _read_ticket(self, ticket: str) -> WechatIdentity:
        data = self.signer.verify("wechat_bind", ticket, now=self.clock.now().timestamp())
        if data is None:
            raise BusinessRuleViolation("wechat_ticket_invalid", "微信授权已过期，请重新进入页面")
        return WechatIdentity(str(data["a"]), str(data["o"]))

    async def bind_openid(self, account_id: str, wechat: WechatIdentity) -> None:
        """Bind an openid to an account (moving it if another account had it)."""
        key = f"{wechat.appid}:{wechat.openid}"
        update = {"$set": {"appid": wechat.appid, "openid": wechat.openid,
                           "account_id": account_id, "bound_at": self.clock.now()}}
        try:
            before = await self.bindings.find_one_and_update({"_id": key}, update, upsert=True)
        except DuplicateKeyError:  # bound at the same moment elsewhere: ours wins, as an update
            before = await self.bindings.find_one_and_update({"_id": key}, update)
        if before is not None and before["account_id"] != account_id:
            await self.identity.accounts.update_one({"_id": ObjectId(before["account_id"])},
                                                    {"$pull": {"openids": wechat.openid}})
        await self.identity.accounts.update_one({"_id": ObjectId(account_id)},
                                                {"$addToSet": {"openids": wechat.openid}})
