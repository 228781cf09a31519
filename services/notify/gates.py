"""What may delay a message without dropping it: quiet hours and per-recipient SMS limits.

Quiet hours are wall-clock times in Asia/Shanghai (default 22:00–07:00). The SMS limits
(default 1 per minute and 10 per local day per phone) are kept in one small document per
phone (`notify_limits`), reserved with ONE conditional update, so two dispatchers cannot
both take the last slot of a minute.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.clock import at_local, local


def _hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


class QuietHours:
    def __init__(self, start: str, end: str):
        self.start = _hhmm(start)
        self.end = _hhmm(end)

    def contains(self, moment: datetime) -> bool:
        wall = local(moment).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def release_time(self, moment: datetime) -> datetime:
        """`moment` if outside quiet hours, else the instant quiet hours end."""
        if not self.contains(moment):
            return moment
        here = local(moment)
        day = here.date()
        if here.time() >= self.end:       # evening part of a window that wraps midnight
            day += timedelta(days=1)
        return at_local(day, self.end)


class SmsLimits:
    """Per-phone sliding minute gap and per-local-day count, reserved atomically."""

    def __init__(self, collection: AsyncCollection, per_minute: int, per_day: int):
        self.collection = collection
        self.gap = timedelta(seconds=60 / per_minute)
        self.per_day = per_day

    async def reserve(self, key: str, now: datetime) -> datetime | None:
        """Take one send for `key` now; None when taken, else when to try again.

        `now` must already be rounded to milliseconds (jobs.utc_floor) so `release`
        can find the reservation again.
        """
        day = local(now).date().isoformat()
        gap_passed = {"$or": [{"last_at": None}, {"last_at": {"$lte": now - self.gap}}]}
        same_day = await self.collection.update_one(
            {"$and": [{"_id": key, "day": day, "day_count": {"$lt": self.per_day}}, gap_passed]},
            {"$set": {"last_at": now}, "$inc": {"day_count": 1}})
        if same_day.modified_count:
            return None
        try:                     # a phone never texted before
            await self.collection.insert_one({"_id": key, "last_at": now, "day": day,
                                              "day_count": 1})
            return None
        except DuplicateKeyError:
            pass
        new_day = await self.collection.update_one(
            {"$and": [{"_id": key, "day": {"$ne": day}}, gap_passed]},
            {"$set": {"last_at": now, "day": day, "day_count": 1}})
        if new_day.modified_count:
            return None
        doc: dict[str, Any] | None = await self.collection.find_one({"_id": key})
        if doc is None:          # removed in between: simply try again soon
            return now + timedelta(seconds=1)
        if doc.get("day") == day and doc.get("day_count", 0) >= self.per_day:
            return at_local(local(now).date() + timedelta(days=1), time(0, 0))
        last = doc.get("last_at")
        return (last + self.gap) if last is not None else now + timedelta(seconds=1)

    async def release(self, key: str, reserved_at: datetime) -> None:
        """Give back a reservation whose send failed (only if nothing was sent since)."""
        await self.collection.update_one(
            {"_id": key, "last_at": reserved_at},
            {"$set": {"last_at": None}, "$inc": {"day_count": -1}})
