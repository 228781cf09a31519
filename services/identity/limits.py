"""Fixed-window counters in MongoDB: per-IP limits on login-code sends and failed logins.

One document per (key, window): `{_id: "<purpose>:<key>:<window index>", count, expires_at}`,
incremented with ONE upsert, so any number of app processes share the same count. The
document outlives its window briefly and the TTL index removes it. Keys are blind
indexes (an IP address is personal data too), never the raw value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.errors import RateLimited


class WindowCounter:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0)

    @staticmethod
    def _window(now: datetime, window: timedelta) -> tuple[int, datetime]:
        seconds = int(window.total_seconds())
        index = int(now.timestamp()) // seconds
        return index, datetime.fromtimestamp((index + 1) * seconds, UTC)

    async def hit(self, purpose: str, key: str, limit: int, window: timedelta, now: datetime,
                  message: str = "操作过于频繁，请稍后再试") -> int:
        """Count one event; RateLimited (Retry-After = end of window) once over `limit`."""
        index, ends = self._window(now, window)
        doc_id = f"{purpose}:{key}:{index}"
        for _ in range(2):  # two first hits at once: one upsert loses, retry as an update
            try:
                doc = await self.collection.find_one_and_update(
                    {"_id": doc_id}, {"$inc": {"count": 1},
                                      "$setOnInsert": {"expires_at": ends + window}},
                    upsert=True, return_document=ReturnDocument.AFTER)
                break
            except DuplicateKeyError:
                continue
        else:  # pragma: no cover - a third collision cannot happen on one key
            raise RateLimited(message=message, retry_after=int((ends - now).total_seconds()) + 1)
        if doc["count"] > limit:
            raise RateLimited(message=message, retry_after=int((ends - now).total_seconds()) + 1)
        return doc["count"]

    async def check(self, purpose: str, key: str, limit: int, window: timedelta, now: datetime,
                    message: str = "操作过于频繁，请稍后再试") -> None:
        """RateLimited if the window already holds `limit` events (does not count one)."""
        index, ends = self._window(now, window)
        doc = await self.collection.find_one({"_id": f"{purpose}:{key}:{index}"}, {"count": 1})
        if doc is not None and doc["count"] >= limit:
            raise RateLimited(message=message, retry_after=int((ends - now).total_seconds()) + 1)
