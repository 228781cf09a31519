"""Staff login failures: a lockout per (account, source) with growing back-off, and failure
budgets per source and for the whole hospital (issue 22 findings a, c, f).

Why per (account, source): a lock on the account alone lets anyone who knows a colleague's
username lock them out from anywhere. Here a stranger's failures only lock the stranger's
own address out of that account; the colleague, from a clean address, still logs in with the
right password (and second factor). Unknown usernames are counted exactly like known ones,
so lock behaviour does not reveal which names exist.

Collection `staff_login_failures`: {_id: "<account key>:<source key>", failures, level,
locked_until, expires_at}. Keys are blind indexes (usernames and IP addresses never stored).
One conditional update per failure; `level` doubles the next lock (15 min, 30, 60, … ≤ 24 h)
until a successful login from that source clears the record. `expires_at` is checked on
every read with the injected clock; the TTL index only collects old records.

Budgets (services.identity.limits.WindowCounter): more than `failures_per_source` failures
from one address in a window refuse that address for every username (password spraying);
more than `failures_global` failures across all addresses refuse every source that has
itself failed in the window, while sources with no failure still log in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.errors import RateLimited
from services.identity.limits import WindowCounter


class StaffLockoutConfig(BaseModel):
    max_failed_logins: int = 5          # per (account, source) before a lock
    lockout_minutes: int = 15           # the first lock; each next one doubles
    max_lockout_hours: int = 24
    failure_window_minutes: int = 15    # budgets count failures in windows of this size
    failures_per_source: int = 20       # one address, any usernames
    failures_global: int = 300          # all addresses together


LOCKED_MESSAGE = "登录失败次数过多，已临时锁定，请稍后再试"
BUDGET_MESSAGE = "登录失败次数过多，请稍后再试"


class StaffLoginGuard:
    def __init__(self, db: AsyncDatabase, config: StaffLockoutConfig,
                 blind_index: Callable[[str, str], str]):
        self.failures = db["staff_login_failures"]
        self.budgets = WindowCounter(db["staff_login_budgets"])
        self.config = config
        self._index = blind_index

    async def ensure_indexes(self) -> None:
        await self.failures.create_index("expires_at", expireAfterSeconds=0)
        await self.budgets.ensure_indexes()

    def _key(self, username: str, source: str) -> str:
        return f"{self._index(username.strip().lower(), 'staff_username')}:{self._index(source, 'ip')}"

    @property
    def _window(self) -> timedelta:
        return timedelta(minutes=self.config.failure_window_minutes)

    async def check(self, username: str, source: str, now: datetime) -> None:
        """RateLimited if this source is locked out of this account or over a budget.

        Callers hash the password BEFORE calling this (equal work on every path)."""
        record = await self.failures.find_one({"_id": self._key(username, source),
                                               "expires_at": {"$gt": now}})
        if record and record.get("locked_until") and record["locked_until"] > now:
            retry = int((record["locked_until"] - now).total_seconds()) + 1
            raise RateLimited("account_locked", LOCKED_MESSAGE, retry_after=retry)
        source_key = self._index(source, "ip")
        await self.budgets.check("staff_fail_ip", source_key, self.config.failures_per_source,
                                 self._window, now, BUDGET_MESSAGE)
        try:
            await self.budgets.check("staff_fail_all", "all", self.config.failures_global,
                                     self._window, now, BUDGET_MESSAGE)
        except RateLimited:
            if record is not None or await self._source_failed_recently(source_key, now):
                raise

    async def _source_failed_recently(self, source_key: str, now: datetime) -> bool:
        try:
            await self.budgets.check("staff_fail_ip", source_key, 1, self._window, now)
        except RateLimited:
            return True
        return False

    async def record_failure(self, username: str, source: str, now: datetime) -> None:
        """Count one failure; the Nth in a row from this source locks it out, longer each time."""
        source_key = self._index(source, "ip")
        for purpose, key in (("staff_fail_ip", source_key), ("staff_fail_all", "all")):
            try:
                await self.budgets.hit(purpose, key, 10 ** 9, self._window, now)
            except RateLimited:   # pragma: no cover - the limit is never reached when counting
                pass
        key = self._key(username, source)
        horizon = now + timedelta(hours=self.config.max_lockout_hours * 2)
        # a record past its expiry starts over (the TTL monitor may not have removed it yet)
        await self.failures.update_one({"_id": key, "expires_at": {"$lte": now}},
                                       {"$set": {"failures": 0, "level": 0, "locked_until": None}})
        record: dict[str, Any] = await self.failures.find_one_and_update(
            {"_id": key}, {"$inc": {"failures": 1}, "$set": {"expires_at": horizon},
                           "$setOnInsert": {"level": 0, "locked_until": None}},
            upsert=True, return_document=ReturnDocument.AFTER)
        if record["failures"] < self.config.max_failed_logins:
            return
        minutes = min(self.config.lockout_minutes * 2 ** record["level"],
                      self.config.max_lockout_hours * 60)
        await self.failures.update_one(
            {"_id": record["_id"], "failures": record["failures"]},
            {"$set": {"failures": 0, "locked_until": now + timedelta(minutes=minutes)},
             "$inc": {"level": 1}})

    async def record_success(self, username: str, source: str) -> None:
        """A good login from this source clears its failures and back-off for this account."""
        await self.failures.delete_one({"_id": self._key(username, source)})
