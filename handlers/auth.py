"""Auth policies for `@api(auth=...)`: who may call an endpoint.

    PATIENT              a patient session: `Authorization: Bearer <token>`, or the H5 cookie
                         `palm_session` (then writes must carry the X-XSRFToken header)
    staff(*roles)        a staff session (Bearer) whose staff member has one of the roles
    device(*kinds)       a request signed by a registered device of one of the kinds
    PUBLIC               anyone (handlers/base.py)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tornado.web

from services.actors import Actor
from services.crypto import mask_name
from services.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from handlers.base import ApiHandler

SESSION_COOKIE = "palm_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

ROLE_LABELS = {"admin": "管理员", "pharmacist": "药师", "pharmacy_supervisor": "药房主管",
               "doctor": "医生", "nurse": "护士", "finance": "财务"}
DEVICE_LABELS = {"kiosk": "自助机", "display": "诊室显示屏", "his": "医院信息系统"}


def bearer_token(handler: "ApiHandler") -> str | None:
    header = handler.request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class _Patient:
    name = "patient"
    security = [{"bearerAuth": []}, {"cookieAuth": []}]

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        token = bearer_token(handler)
        via_cookie = False
        if token is None:
            token = handler.get_cookie(SESSION_COOKIE)
            via_cookie = token is not None
        if not token:
            raise Unauthorized("login_required", "请先登录")
        session = await handler.services.identity.authenticate(token, "patient")
        if via_cookie and handler.request.method not in SAFE_METHODS:
            try:
                handler.check_xsrf_cookie()
            except tornado.web.HTTPError:
                raise Forbidden("xsrf_invalid", "页面已过期，请刷新后重试") from None
        return Actor(kind="patient", id=session["subject_id"], session_id=str(session["_id"]),
                     via_cookie=via_cookie)


PATIENT = _Patient()


class _Staff:
    def __init__(self, roles: tuple[str, ...]):
        self.roles = frozenset(roles)
        self.name = "staff:" + ",".join(sorted(roles))
        self.security = [{"bearerAuth": []}]

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        token = bearer_token(handler)
        if not token:
            raise Unauthorized("login_required", "请先登录工作账号")
        session = await handler.services.identity.authenticate(token, "staff")
        member = await handler.services.staff.get(session["subject_id"])
        if member is None:
            raise Unauthorized("session_invalid", "登录已失效，请重新登录")
        roles = frozenset(member["roles"])
        if not roles & self.roles:
            raise Forbidden("role_forbidden", "您的岗位无权进行此操作")
        main_role = sorted(roles & self.roles)[0]
        return Actor(kind="staff", id=str(member["_id"]), roles=roles,
                     label=f"{ROLE_LABELS.get(main_role, main_role)} {mask_name(member['name'])}",
                     campus_code=member.get("campus_code"), session_id=str(session["_id"]))


def staff(*roles: str) -> _Staff:
    """Staff with any of `roles` may call."""
    return _Staff(roles)


class _Device:
    def __init__(self, kinds: tuple[str, ...]):
        self.kinds = frozenset(kinds)
        self.name = "device:" + ",".join(sorted(kinds))
        self.security = [{"deviceSignature": []}]

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        request = handler.request
        device = await handler.services.devices.verify(
            request.method or "", request.uri or "", request.headers, request.body or b"")
        if device["kind"] not in self.kinds:
            raise Forbidden("device_forbidden", "该设备无权进行此操作")
        return Actor(kind="device", id=device["_id"], roles=frozenset({device["kind"]}),
                     label=f"{DEVICE_LABELS.get(device['kind'], device['kind'])} {device['name']}",
                     campus_code=device.get("campus_code"))


def device(*kinds: str) -> _Device:
    """Devices of any of `kinds` may call (signed requests)."""
    return _Device(kinds)


class _AnyOf:
    """The first policy whose credentials are present decides (staff token or device signature)."""

    def __init__(self, policies: tuple[object, ...]):
        self.policies = policies
        self.name = "|".join(p.name for p in policies)  # type: ignore[attr-defined]
        self.security = [s for p in policies for s in p.security]  # type: ignore[attr-defined]

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        has_signature = "X-Palm-Key-Id" in handler.request.headers
        for policy in self.policies:
            if isinstance(policy, _Device) == has_signature:
                return await policy.authenticate(handler)  # type: ignore[attr-defined]
        raise Unauthorized("login_required", "请先登录工作账号")


def either(*policies: object) -> _AnyOf:
    """Staff or device policies combined: whichever credentials the request carries."""
    return _AnyOf(policies)
