"""Time: an injected clock (UTC, tz-aware) and Asia/Shanghai helpers.

Services never call datetime.now(); they take a clock so tests can move time
(number release, expiries, quiet hours, SLAs). Stored times are UTC; people see
Asia/Shanghai.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock(Clock):
    """A clock tests can set and advance; thread-safe because test and app threads share it."""

    def __init__(self, start: datetime | None = None):
        self._lock = threading.Lock()
        self._now = start or datetime.now(UTC)
        if self._now.tzinfo is None:
            raise ValueError("SettableClock needs an aware datetime")

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("SettableClock needs an aware datetime")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def local(moment: datetime) -> datetime:
    """`moment` shown in Asia/Shanghai."""
    return as_utc(moment).astimezone(SHANGHAI)


def as_utc(moment: datetime) -> datetime:
    """Normalise a stored datetime to an aware UTC one (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai on which `moment` falls."""
    return local(moment).date()


def at_local(day: date, clock_time: time) -> datetime:
    """The UTC instant of a wall-clock time on a day in Asia/Shanghai."""
    return datetime.combine(day, clock_time, tzinfo=SHANGHAI).astimezone(UTC)


def format_local(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local(moment).strftime(fmt)
