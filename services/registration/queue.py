"""Check-in (报到) and the second waiting queue (二次等候叫号).

Queue order is the text `queue_key`: on-time arrivals "0<slot start><check-in>", late
ones "1<check-in>", so late arrivals go to the end; a skipped patient gets the key of
the patient `skip_rejoin_after` places behind plus "~<now>", i.e. rejoins after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from time import monotonic
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from services.clock import as_utc, format_local, local_date
from services.errors import BusinessRuleViolation, Conflict, NotFound
from services.qr import data_url
from services.registration.base import (
    CLINIC_PURPOSE,
    TICKET_PURPOSE,
    RegistrationBase,
    oid,
    stamp,
)
from services.registration.models import (
    AppointmentOut,
    ClinicCodeOut,
    DisplayDoctor,
    DisplayOut,
    QueueEntry,
    QueueOut,
    StationOut,
)


# The doctor's station changes one schedule's queue at a time: a short lease on the schedule
# document serialises call-next / skip / complete / recall across processes, so two presses
# at once can never leave two patients called. The lease outlives a crashed request by at most
# STATION_LEASE_SECONDS; a press waits up to STATION_WAIT_SECONDS for the one before it.
STATION_LEASE_SECONDS = 10
STATION_WAIT_SECONDS = 3.0
NOBODY = "none"


class QueueMixin(RegistrationBase):

    # ---- check-in ---------------------------------------------------------------------------

    async def check_in(self, account_id: str, appointment_id: str,
                       clinic_code: str) -> AppointmentOut:
        """Check in on the phone by scanning the clinic's QR code."""
        doc = await self._own_appointment(account_id, appointment_id)
        payload = self.signer.verify(CLINIC_PURPOSE, clinic_code,
                                     now=self.clock.now().timestamp())
        if payload is None:
            raise BusinessRuleViolation("clinic_code_invalid", "诊区二维码无效，请扫描诊区张贴的报到码")
        if payload.get("c") != doc.get("clinic_id"):
            raise BusinessRuleViolation("wrong_clinic", f"请到{doc.get('room') or '就诊诊区'}扫码报到")
        return await self._check_in(doc, "phone")

    async def kiosk_check_in(self, actor: Any, ticket_code: str) -> AppointmentOut:
        """Check in at a kiosk by scanning the ticket's QR code."""
        payload = self.signer.verify(TICKET_PURPOSE, ticket_code, now=self.clock.now().timestamp())
        if payload is None:
            raise BusinessRuleViolation("ticket_code_invalid", "挂号凭证无效或已过期")
        doc = await self.appointments.find_one({"_id": oid(payload.get("a"), "appointment_not_found",
                                                            "未找到该预约")})
        if doc is None:
            raise NotFound("appointment_not_found", "未找到该预约")
        await self._audit(actor, "registration.kiosk_check_in", patient_id=doc["patient_id"],
                          details={"appointment_id": str(doc["_id"])})
        return await self._check_in(doc, "kiosk")

    async def _check_in(self, doc: dict[str, Any], via: str) -> AppointmentOut:
        now = self.clock.now()
        if doc["status"] in ("checked_in", "called"):
            return self._appointment_out(doc, now)          # scanning twice is harmless
        if doc["status"] != "booked":
            raise Conflict("invalid_transition", "该预约当前不能报到",
                           details={"status": doc["status"]})
        start, end = as_utc(doc["slot_start"]), as_utc(doc["slot_end"])
        opens = start - timedelta(minutes=self.config.check_in_before_minutes)
        late_after = start + timedelta(minutes=self.config.check_in_after_minutes)
        if doc["date"] != local_date(now).isoformat() or now < opens:
            raise BusinessRuleViolation("check_in_too_early",
                                        f"请于 {format_local(opens)} 之后报到",
                                        details={"opens_at": opens.isoformat()})
        if now >= end:
            raise BusinessRuleViolation("check_in_closed", "已超过就诊时段，不能报到，请重新挂号")
        late = now > late_after
        key = ("1" + stamp(now)) if late else ("0" + stamp(start) + stamp(now))
        done = await self.appointments.find_one_and_update(
            {"_id": doc["_id"], "status": "booked"},
            {"$set": {"status": "checked_in", "checked_in_at": now, "check_in_via": via,
                      "late": late, "queue_key": key, "updated_at": now}},
            return_document=ReturnDocument.AFTER)
        if done is None:
            done = await self.appointments.find_one({"_id": doc["_id"]})
            if done["status"] not in ("checked_in", "called"):
                raise Conflict("invalid_transition", "预约状态已变化，请刷新后重试")
        await self._queue_near(done["schedule_id"])
        return self._appointment_out(done, now)

    # ---- the patient's view -------------------------------------------------------------------

    async def queue_status(self, account_id: str, appointment_id: str) -> QueueOut:
        """Number being called, how many are ahead and the estimated time."""
        doc = await self._own_appointment(account_id, appointment_id)
        now = self.clock.now()
        status = doc["status"]
        calling, ahead = await self._calling_and_ahead(doc)
        minutes = at = None
        if status == "checked_in":
            minutes = (ahead + (1 if calling else 0)) * self.config.minutes_per_patient
            at = now + timedelta(minutes=minutes)
            message = f"您前面还有 {ahead} 人，预计 {format_local(at, '%H:%M')} 左右就诊"
        elif status == "called":
            ahead, minutes, at = 0, 0, now
            message = f"请立即到{doc.get('room') or '诊室'}就诊"
        elif status == "booked":
            opens = as_utc(doc["slot_start"]) - timedelta(minutes=self.config.check_in_before_minutes)
            message = f"请于 {format_local(opens)} 之后到诊区扫码报到"
        else:
            message = "本次预约已结束"
        return QueueOut(appointment_id=str(doc["_id"]), status=status, ticket_no=doc["ticket_no"],
                        calling=calling["ticket_no"] if calling else None, ahead=ahead,
                        estimated_minutes=minutes, estimated_at=at, message=message)

    async def _calling_and_ahead(self, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
        """The patient being called and, for a checked-in `doc`, how many wait before it.

        One query for both (the round-trip budget): the called ones and the checked-in ones
        with a smaller queue key, small projections; a clinic session holds tens, not thousands.
        """
        if doc["status"] != "checked_in":
            return await self._calling(doc["schedule_id"]), None
        rows = await self.appointments.find(
            {"schedule_id": doc["schedule_id"],
             "$or": [{"status": "called"},
                     {"status": "checked_in", "queue_key": {"$lt": doc["queue_key"]}}]},
            {"status": 1, "ticket_no": 1, "called_at": 1}).to_list()
        called = [r for r in rows if r["status"] == "called"]
        calling = max(called, key=lambda r: r.get("called_at") or r["_id"].generation_time,
                      default=None)
        return calling, len(rows) - len(called)

    async def _calling(self, schedule_id: Any) -> dict[str, Any] | None:
        return await self.appointments.find_one(
            {"schedule_id": schedule_id, "status": "called"}, sort=[("called_at", DESCENDING)])

    async def _waiting(self, schedule_id: Any, limit: int = 0) -> list[dict[str, Any]]:
        cursor = self.appointments.find({"schedule_id": schedule_id, "status": "checked_in"}
                                        ).sort([("queue_key", ASCENDING)])
        if limit:
            cursor = cursor.limit(limit)
        return await cursor.to_list()

    async def _queue_near(self, schedule_id: Any) -> None:
        """Tell patients once when only `queue_near_ahead` or fewer are ahead of them."""
        near = self.config.queue_near_ahead
        for ahead, doc in enumerate(await self._waiting(schedule_id, near + 1)):
            if doc.get("queue_near_sent"):
                continue
            marked = await self.appointments.update_one(
                {"_id": doc["_id"], "queue_near_sent": {"$ne": True}},
                {"$set": {"queue_near_sent": True}})
            if marked.modified_count:
                await self._notify(doc["patient_id"], "queue_near", {
                    "patient": doc.get("patient_masked", ""),
                    "department": doc.get("department_name", ""), "ahead": ahead},
                    f"queue_near:{doc['_id']}", urgent=True)

    # ---- the doctor's station ---------------------------------------------------------------

    async def station(self, actor: Any, schedule_id: str) -> StationOut:
        """The queue of one schedule as the doctor or nurse sees it (masked names)."""
        schedule = await self._schedule_doc(schedule_id)
        sid = schedule["_id"]
        current = await self._calling(sid)
        waiting = await self._waiting(sid)
        not_arrived = await self.appointments.count_documents({"schedule_id": sid,
                                                               "status": "booked"})
        done = await self.appointments.count_documents({"schedule_id": sid,
                                                        "status": "completed"})
        await self._audit(actor, "registration.station_viewed",
                          details={"schedule_id": str(sid), "waiting": len(waiting)})
        return StationOut(schedule_id=str(sid), doctor_name=schedule.get("doctor_name", ""),
                          department_name=schedule.get("department_name", ""),
                          room=schedule.get("room", ""),
                          current=_entry(current) if current else None,
                          waiting=[_entry(d) for d in waiting], not_arrived=not_arrived,
                          done=done)

    @asynccontextmanager
    async def _station_turn(self, schedule_id: Any) -> AsyncIterator[None]:
        """Hold the schedule's station lease while changing its queue."""
        token = ObjectId()
        give_up = monotonic() + STATION_WAIT_SECONDS
        while True:
            now = self.clock.now()
            taken = await self.schedules.find_one_and_update(
                {"_id": schedule_id, "$or": [{"station_lease_until": None},
                                             {"station_lease_until": {"$lte": now}}]},
                {"$set": {"station_lease": token,
                          "station_lease_until": now + timedelta(seconds=STATION_LEASE_SECONDS)}},
                projection={"_id": 1})
            if taken is not None:
                break
            if monotonic() > give_up:
                raise Conflict("station_busy", "其他终端正在操作该诊室队列，请稍后重试")
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            await self.schedules.update_one(
                {"_id": schedule_id, "station_lease": token},
                {"$unset": {"station_lease": "", "station_lease_until": ""}})

    async def _station_action(self, actor: Any, schedule_id: str, expect: str | None,
                              change: Callable[[Any, dict[str, Any] | None], Awaitable[None]],
                              *, needs_current: bool = False) -> StationOut:
        """Run `change(schedule id, called appointment)` under the schedule's station lease,
        if the station saw the queue as it is: `expect` is the appointment id it showed as
        called (NOBODY for none); a retried or doubled press no longer matches, so it changes
        nothing. Without `expect` the press always acts. Returns the queue afterwards, with
        `applied` saying whether this press changed it."""
        sid = (await self._schedule_doc(schedule_id))["_id"]
        async with self._station_turn(sid):
            current = await self._calling(sid)
            if needs_current and current is None:
                raise Conflict("nobody_called", "当前没有正在呼叫的患者")
            applied = expect is None or (str(current["_id"]) if current else NOBODY) == expect
            if applied:
                await change(sid, current)
        queue = await self.station(actor, schedule_id)
        return queue.model_copy(update={"applied": applied})

    async def call_next(self, actor: Any, schedule_id: str,
                        expect: str | None = None) -> StationOut:
        """Finish the patient being seen and call the next one in queue order."""
        async def change(sid: Any, current: dict[str, Any] | None) -> None:
            await self._finish_current(sid)
            await self._call_first(sid)
        return await self._station_action(actor, schedule_id, expect, change)

    async def complete_current(self, actor: Any, schedule_id: str,
                               expect: str | None = None) -> StationOut:
        """Finish the patient being seen without calling anyone."""
        async def change(sid: Any, current: dict[str, Any] | None) -> None:
            await self._finish_current(sid)
        return await self._station_action(actor, schedule_id, expect, change)

    async def recall(self, actor: Any, schedule_id: str,
                     expect: str | None = None) -> StationOut:
        """Call the current patient again (display and notification)."""
        async def change(sid: Any, current: dict[str, Any] | None) -> None:
            await self.appointments.update_one(
                {"_id": current["_id"], "status": "called"},
                {"$inc": {"recalls": 1}, "$set": {"recalled_at": self.clock.now()}})
        return await self._station_action(actor, schedule_id, expect, change, needs_current=True)

    async def skip(self, actor: Any, schedule_id: str, expect: str | None = None) -> StationOut:
        """The called patient is absent: they rejoin after the next few; call the next one."""
        async def change(sid: Any, current: dict[str, Any] | None) -> None:
            now = self.clock.now()
            behind = await self._waiting(sid, self.config.skip_rejoin_after)
            anchor = behind[-1]["queue_key"] if behind else current.get("queue_key", "0")
            await self.appointments.update_one(
                {"_id": current["_id"], "status": "called"},
                {"$set": {"status": "checked_in", "queue_key": f"{anchor}~{stamp(now)}",
                          "updated_at": now}, "$inc": {"skips": 1}})
            await self._call_first(sid)
        return await self._station_action(actor, schedule_id, expect, change, needs_current=True)

    async def _finish_current(self, schedule_id: Any) -> None:
        now = self.clock.now()
        async for doc in self.appointments.find({"schedule_id": schedule_id, "status": "called"}):
            done = await self.appointments.find_one_and_update(
                {"_id": doc["_id"], "status": "called"},
                {"$set": {"status": "completed", "active": False, "completed_at": now,
                          "updated_at": now}}, return_document=ReturnDocument.AFTER)
            if done is not None:
                await self._release_quotas(done)

    async def _call_first(self, schedule_id: Any) -> None:
        now = self.clock.now()
        await self.appointments.find_one_and_update(
            {"schedule_id": schedule_id, "status": "checked_in"},
            {"$set": {"status": "called", "called_at": now, "updated_at": now}},
            sort=[("queue_key", ASCENDING)])
        await self._queue_near(schedule_id)

    # ---- the clinic display -------------------------------------------------------------------

    async def display(self, actor: Any, clinic_id: str) -> DisplayOut:
        """Today's queues of a clinic for the waiting-room screen (masked names)."""
        now = self.clock.now()
        schedules = await self.schedules.find(
            {"clinic_id": clinic_id, "date": local_date(now).isoformat(), "status": "open"}
        ).to_list()
        doctors = []
        for s in sorted(schedules, key=lambda s: (s["period"] != "morning", s["period"],
                                                  s.get("doctor_name", ""))):
            calling = await self._calling(s["_id"])
            waiting = await self._waiting(s["_id"], 10)
            doctors.append(DisplayDoctor(schedule_id=str(s["_id"]),
                                         doctor_name=s.get("doctor_name", ""),
                                         room=s.get("room", ""),
                                         calling=_entry(calling) if calling else None,
                                         waiting=[_entry(d) for d in waiting]))
        await self._audit(actor, "registration.display_viewed", details={"clinic_id": clinic_id})
        return DisplayOut(clinic_id=clinic_id, updated_at=now, doctors=doctors)

    async def clinic_code_out(self, clinic_id: str) -> ClinicCodeOut:
        """The check-in QR code of a clinic that has schedules (to print at the clinic)."""
        if await self.schedules.find_one({"clinic_id": clinic_id}, {"_id": 1}) is None:
            raise NotFound("clinic_not_found", "未找到该诊区")
        code = self.clinic_code(clinic_id)
        return ClinicCodeOut(clinic_id=clinic_id, code=code, qr_png=data_url(code))


def _entry(doc: dict[str, Any]) -> QueueEntry:
    return QueueEntry(appointment_id=str(doc["_id"]), ticket_no=doc["ticket_no"],
                      patient_name=doc.get("patient_masked", ""), status=doc["status"],
                      late=doc.get("late", False), slot_start=doc["slot_start"],
                      checked_in_at=doc.get("checked_in_at"))
