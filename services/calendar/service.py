"""HospitalCalendar: is a day open? The statutory calendar, then the hospital's overrides.

Precedence: an admin's override (collection `calendar_overrides`, one document per date,
`_id` the ISO date) wins over a standing override in `[calendar]`, which wins over the
statutory answer (holidays and 调休 from `chinesecalendar`, Monday to Friday for unknown
years). Callers (number release, reminders) ask synchronously from inside their own
work, so the admins' overrides are held in memory: loaded at start-up, reloaded after each
change in this process, and reloaded by `fresh()` — which an async caller awaits before its
questions — once the copy is older than `refresh_seconds`, so every app process (not only
the one running the worker) sees another process's change within that bound.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.actors import Actor
from services.calendar.config import CalendarConfig
from services.calendar.models import CalendarDayOut, OverrideIn, OverrideOut
from services.calendar.statutory import StatutoryCalendar
from services.clock import Clock, local_date
from services.errors import InvalidRequest, NotFound

log = logging.getLogger("palm.calendar")

# Longest run of closed days we look across (春节 with weekends is about 9): beyond this the
# calendar is misconfigured and callers keep the day they asked about.
MAX_CLOSED_RUN = 31
# How far from today an admin may place an override.
OVERRIDE_WINDOW_DAYS = 400


class HospitalCalendar:
    """Open and closed days of the hospital."""

    def __init__(self, db: AsyncDatabase, clock: Clock, config: CalendarConfig,
                 statutory: StatutoryCalendar | None = None):
        self.clock = clock
        self.config = config
        self.statutory = statutory or StatutoryCalendar()
        self.overrides = db["calendar_overrides"]
        self.audit: Any = None
        self._admin: dict[date, dict[str, Any]] = {}
        self._loaded_at: float | None = None     # time.monotonic() of the last load
        self._config_days = {**{d: False for d in config.closed_days},
                             **{d: True for d in config.open_days}}

    def connect(self, *, audit: Any) -> None:
        """Wire the audit log (server/startup.py)."""
        self.audit = audit

    async def ensure_indexes(self) -> None:
        # `_id` is the date, so no index is needed; start-up is also the first load.
        await self.refresh()

    async def refresh(self) -> int:
        """Reload the admins' overrides into memory; returns how many there are."""
        loaded = {date.fromisoformat(doc["_id"]): doc async for doc in self.overrides.find({})}
        self._admin = loaded          # one assignment: readers see the old or the new set
        self._loaded_at = time.monotonic()
        return len(loaded)

    async def fresh(self) -> HospitalCalendar:
        """This calendar, its overrides reloaded first if older than `refresh_seconds` (one
        small read at most that often; wall time, because it bounds a cache, not a rule)."""
        if (self._loaded_at is None
                or time.monotonic() - self._loaded_at >= self.config.refresh_seconds):
            await self.refresh()
        return self

    # ---- questions -------------------------------------------------------------------------

    def day(self, day: date) -> CalendarDayOut:
        """What the hospital does on `day`, and why."""
        admin = self._admin.get(day)
        if admin is not None:
            return CalendarDayOut(date=day, open=admin["open"], kind=_hospital_kind(admin["open"]),
                                  name=admin.get("note", ""), source="admin")
        if day in self._config_days:
            is_open = self._config_days[day]
            return CalendarDayOut(date=day, open=is_open, kind=_hospital_kind(is_open),
                                  name="", source="config")
        answer = self.statutory.day(day)
        return CalendarDayOut(date=day, open=answer.open, kind=answer.kind,  # type: ignore[arg-type]
                              name=answer.name, source=answer.source)  # type: ignore[arg-type]

    def is_open(self, day: date) -> bool:
        return self.day(day).open

    def open_on_or_before(self, day: date) -> date:
        """`day` if open, else the last open day before it (`day` itself if none is near)."""
        for back in range(MAX_CLOSED_RUN + 1):
            candidate = day - timedelta(days=back)
            if self.is_open(candidate):
                return candidate
        return day

    def days_covered_by(self, day: date) -> list[date]:
        """The days after `day` up to and including the next open day: what an open day's
        evening must cover when the days between are closed (Friday → Saturday..Monday)."""
        covered = []
        for ahead in range(1, MAX_CLOSED_RUN + 2):
            candidate = day + timedelta(days=ahead)
            covered.append(candidate)
            if self.is_open(candidate):
                break
        return covered

    async def list_days(self, start: date | None, count: int) -> list[CalendarDayOut]:
        """`count` consecutive days from `start` (today in Asia/Shanghai by default)."""
        await self.fresh()
        if count > self.config.max_days:
            raise InvalidRequest("calendar_range_too_long",
                                 f"一次最多查询 {self.config.max_days} 天",
                                 details={"max_days": self.config.max_days})
        first = start or local_date(self.clock.now())
        return [self.day(first + timedelta(days=n)) for n in range(count)]

    # ---- admin overrides -------------------------------------------------------------------

    async def list_overrides(self, start: date | None = None) -> list[OverrideOut]:
        """The admins' overrides from `start` (today by default), in date order."""
        first = (start or local_date(self.clock.now())).isoformat()
        docs = await self.overrides.find({"_id": {"$gte": first}}).sort("_id", 1).to_list(500)
        return [_override_out(doc) for doc in docs]

    async def check_set_override(self, day_text: str, change: OverrideIn,
                                 actor: Actor) -> OverrideOut:
        """Open or close one day for the hospital (replaces an earlier override of that day)."""
        day = parse_day(day_text)
        today = local_date(self.clock.now())
        if not today - timedelta(days=1) <= day <= today + timedelta(days=OVERRIDE_WINDOW_DAYS):
            raise InvalidRequest("override_date_out_of_range",
                                 f"只能调整昨天至 {OVERRIDE_WINDOW_DAYS} 天内的日期",
                                 details={"date": day.isoformat()})
        doc = {"open": change.open, "note": change.note, "updated_by": actor.label or actor.id or "",
               "updated_at": self.clock.now()}
        await self.overrides.update_one({"_id": day.isoformat()}, {"$set": doc}, upsert=True)
        await self._audit(actor, "calendar.override_set",
                          {"date": day.isoformat(), "open": change.open, "note": change.note})
        await self.refresh()
        return _override_out({"_id": day.isoformat(), **doc})

    async def check_remove_override(self, day_text: str, actor: Actor) -> CalendarDayOut:
        """Drop an admin's override: the day follows config and the statutory calendar again."""
        day = parse_day(day_text)
        result = await self.overrides.delete_one({"_id": day.isoformat()})
        if not result.deleted_count:
            raise NotFound("override_not_found", "该日期没有医院调整",
                           details={"date": day.isoformat()})
        await self._audit(actor, "calendar.override_removed", {"date": day.isoformat()})
        await self.refresh()
        return self.day(day)

    async def _audit(self, actor: Actor, action: str, details: dict[str, Any]) -> None:
        if self.audit is not None:
            await self.audit.record(actor, action, details=details)


def parse_day(text: str) -> date:
    """An ISO date from a path, or a clear 400."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("invalid_date", "日期格式应为 YYYY-MM-DD",
                             details={"date": text[:20]}) from None


def _hospital_kind(is_open: bool) -> str:
    return "hospital_open" if is_open else "hospital_closed"


def _override_out(doc: dict[str, Any]) -> OverrideOut:
    return OverrideOut(date=date.fromisoformat(doc["_id"]), open=doc["open"],
                       note=doc.get("note", ""), updated_by=doc.get("updated_by", ""),
                       updated_at=doc["updated_at"])
