"""The append-only audit log: who touched which patient's data, when, from where.

Collection `audit_log`: {_id, at, actor_kind, actor_id, actor_label, action, patient_id,
details, ip, request_id}. Nothing updates or deletes it. Patients read their own entries
(staff and device accesses) through the access-log API.
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.actors import Actor
from services.clock import Clock
from services.models import OutModel


class AccessLogEntry(OutModel):
    at: str
    who: str          # "药师 李*", "自助机 门诊大厅1号"
    action: str
    details: dict[str, Any] | None = None


class AuditService:
    def __init__(self, db: AsyncDatabase, clock: Clock):
        self.log = db["audit_log"]
        self.clock = clock

    async def ensure_indexes(self) -> None:
        await self.log.create_index([("patient_id", 1), ("at", DESCENDING)])
        await self.log.create_index([("actor_kind", 1), ("actor_id", 1), ("at", DESCENDING)])

    async def record(self, actor: Actor, action: str, *, patient_id: str | None = None,
                     details: dict[str, Any] | None = None, ip: str | None = None,
                     request_id: str | None = None) -> None:
        """Append one entry (never updated, never deleted)."""
        await self.log.insert_one({
            "at": self.clock.now(), "actor_kind": actor.kind, "actor_id": actor.id,
            "actor_label": actor.label, "action": action, "patient_id": patient_id,
            "details": details or {}, "ip": ip, "request_id": request_id})

    async def access_log(self, patient_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Staff and device accesses to one patient's data, newest first."""
        cursor = self.log.find({"patient_id": patient_id, "actor_kind": {"$in": ["staff", "device"]}}
                               ).sort([("at", DESCENDING)]).limit(limit)
        return await cursor.to_list()
