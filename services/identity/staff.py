"""Staff accounts with roles, slow password hashes and lockout.

Collection `staff`: {_id, username (unique), name, roles[], password: "scrypt$n$r$p$salt$hash",
active, created_at}. Staff names are not patient data. Failed logins are counted per
(account, source) by services.identity.staff_lockout.StaffLoginGuard, not on the account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock
from services.errors import Conflict, InvalidRequest, Unauthorized
from services.identity.staff_lockout import StaffLockoutConfig, StaffLoginGuard

StaffRole = Literal["admin", "pharmacist", "pharmacy_supervisor", "doctor", "nurse", "finance"]
ROLES: tuple[str, ...] = ("admin", "pharmacist", "pharmacy_supervisor", "doctor", "nurse", "finance")

_N, _R, _P = 2 ** 14, 8, 1


class StaffConfig(StaffLockoutConfig):
    min_password_length: int = 10


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                   p=int(p), dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


_DUMMY_HASH = hash_password("not-a-real-password")


class StaffService:
    def __init__(self, db: AsyncDatabase, clock: Clock, config: StaffConfig,
                 blind_index: Callable[[str, str], str]):
        self.staff = db["staff"]
        self.clock = clock
        self.config = config
        self.guard = StaffLoginGuard(db, config, blind_index)

    async def ensure_indexes(self) -> None:
        await self.staff.create_index("username", unique=True)
        await self.guard.ensure_indexes()

    async def create_staff(self, username: str, name: str, roles: list[str], password: str,
                           campus_code: str | None = None) -> str:
        """A new staff account; roles from ROLES."""
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise InvalidRequest("invalid_role", f"角色无效：{', '.join(sorted(unknown)) or '未指定'}")
        if len(password) < self.config.min_password_length:
            raise InvalidRequest("weak_password", f"密码至少 {self.config.min_password_length} 位")
        try:
            result = await self.staff.insert_one({
                "username": username, "name": name, "roles": sorted(set(roles)),
                "password": hash_password(password),
                "active": True, "campus_code": campus_code, "created_at": self.clock.now()})
        except DuplicateKeyError:
            raise Conflict("staff_exists", "该用户名已存在") from None
        return str(result.inserted_id)

    async def ensure_staff(self, username: str, name: str, roles: list[str], password: str) -> None:
        """Create a staff account or reset its roles and password (development demo only)."""
        member = await self.staff.find_one({"username": username})
        if member is not None and member.get("active") and sorted(member["roles"]) == sorted(roles) \
                and verify_password(password, member["password"]):
            return
        await self.staff.update_one({"username": username}, {"$set": {
            "name": name, "roles": sorted(set(roles)), "password": hash_password(password),
            "active": True},
            "$setOnInsert": {"campus_code": None, "created_at": self.clock.now()}}, upsert=True)

    async def check_login(self, username: str, password: str, source: str = "") -> dict[str, Any]:
        """The staff member if the password is right and `source` is not locked out.

        Every path does the same work: one scrypt (a dummy hash for unknown names), THEN the
        lock and budget checks, so neither timing nor answers tell known names from unknown,
        or a locked account from a wrong password (issue 22 findings a, f)."""
        now = self.clock.now()
        member = await self.staff.find_one({"username": username, "active": True})
        good = verify_password(password, member["password"] if member else _DUMMY_HASH) and bool(member)
        await self.guard.check(username, source, now)
        if not good or member is None:
            await self.guard.record_failure(username, source, now)
            raise Unauthorized("login_failed", "用户名或密码错误")
        await self.guard.record_success(username, source)
        return member

    async def get(self, staff_id: Any) -> dict[str, Any] | None:
        from bson import ObjectId
        return await self.staff.find_one({"_id": ObjectId(staff_id), "active": True})
