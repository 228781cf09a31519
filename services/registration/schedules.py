"""Schedules (排班) and number release (放号): HIS/admin upserts, listings, stop-clinic."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.clock import as_utc, at_local, local_date
from services.errors import BusinessRuleViolation, Conflict, InvalidRequest, NotFound
from services.registration.base import RegistrationBase, oid, schedule_oid
from services.registration.models import (
    DoctorDates,
    ScheduleAdminOut,
    ScheduleIn,
    ScheduleOut,
    StopResult,
    UpsertResult,
)


def _hhmm(day: date, text: str) -> datetime:
    hour, minute = (int(x) for x in text.split(":"))
    return at_local(day, time(hour, minute))


class ScheduleMixin(RegistrationBase):

    # ---- number release -------------------------------------------------------------------

    def release_at_for(self, department: dict[str, Any], day: date) -> datetime:
        """When a schedule on `day` opens: the department's rule, else the default; a release
        that would fall on a closed day (holiday, weekend) moves to the open day before it."""
        overrides = self.config.release_overrides
        rule = overrides.get(department.get("code", "")) or overrides.get(
            department.get("name", "")) or self.config.release
        release_day = day - timedelta(days=rule.days_ahead)
        if self.calendar is not None:
            release_day = self.calendar.open_on_or_before(release_day)
        return at_local(release_day, rule.at)

    # ---- upsert (HIS and admin) ----------------------------------------------------------

    async def upsert_schedules(self, items: list[ScheduleIn], actor: Any = None) -> UpsertResult:
        """Create or update schedules keyed by the HIS's own ids (idempotent on retry)."""
        if self.calendar is not None:
            await self.calendar.fresh()        # release days follow the latest overrides
        prepared = [await self._prepare(item) for item in items]   # validate all before writing
        created = updated = stopped = 0
        ids: dict[str, str] = {}
        for item, fields, slot_docs in prepared:
            schedule, was_new, changed = await self._write_schedule(item, fields, slot_docs)
            created += was_new
            updated += changed and not was_new
            ids[item.his_id] = str(schedule["_id"])
            if item.status == "stopped" and schedule["status"] == "open":
                await self.stop_schedule(str(schedule["_id"]), "医院停诊", actor)
                stopped += 1
        await self._audit(actor, "registration.schedules_upserted",
                          details={"his_ids": list(ids)[:50], "count": len(ids)})
        return UpsertResult(created=created, updated=updated, stopped=stopped, ids=ids)

    async def _prepare(self, item: ScheduleIn) -> tuple[ScheduleIn, dict[str, Any], list[dict]]:
        doctor = await self.doctors.find_one({"code": item.doctor_code})
        if doctor is None:
            raise BusinessRuleViolation("unknown_doctor", f"医生编码 {item.doctor_code} 不存在",
                                        details={"his_id": item.his_id})
        if item.department_code:
            department = await self.departments.find_one({"code": item.department_code})
        else:
            department = await self.departments.find_one({"_id": doctor["department_id"]})
        if department is None:
            raise BusinessRuleViolation("unknown_department", "科室编码不存在",
                                        details={"his_id": item.his_id})
        campus = item.campus_code or doctor.get("campus_code") or "main"
        slots, previous_end = [], None
        for slot in sorted(item.slots, key=lambda s: s.start):
            start, end = _hhmm(item.date, slot.start), _hhmm(item.date, slot.end)
            minutes = (end - start).total_seconds() / 60
            if minutes <= 0 or minutes > self.config.max_slot_minutes:
                raise InvalidRequest("invalid_slot", f"每个时段须在 1 至 "
                                     f"{self.config.max_slot_minutes} 分钟之间",
                                     details={"his_id": item.his_id, "start": slot.start})
            if previous_end is not None and start < previous_end:
                raise InvalidRequest("overlapping_slots", "时段之间不能重叠",
                                     details={"his_id": item.his_id, "start": slot.start})
            previous_end = end
            slots.append({"key": slot.start, "start": start, "end": end,
                          "capacity": slot.capacity})
        fields = {
            "doctor_id": doctor["_id"], "doctor_name": doctor["name"],
            "doctor_title": doctor.get("title", ""), "department_id": department["_id"],
            "department_code": department["code"], "department_name": department["name"],
            "campus_code": campus, "clinic_id": f"{campus}-{department['code']}",
            "room": item.room or f"{department['name']}诊区", "date": item.date.isoformat(),
            "period": item.period, "type": item.type, "fee_fen": item.fee_fen,
            "release_at": as_utc(item.release_at) if item.release_at
            else self.release_at_for(department, item.date),
        }
        return item, fields, slots

    async def _write_schedule(self, item: ScheduleIn, fields: dict[str, Any],
                              slots: list[dict]) -> tuple[dict[str, Any], bool, bool]:
        now = self.clock.now()
        key = schedule_oid(item.his_id)
        before = await self.schedules.find_one({"_id": key})
        update = {"$set": {**fields, "updated_at": now},
                  "$setOnInsert": {"his_id": item.his_id, "status": "open", "created_at": now,
                                   "slots": []}}
        try:
            schedule = await self.schedules.find_one_and_update(
                {"_id": key}, update, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:   # a concurrent first delivery of the same his_id won
            schedule = await self.schedules.find_one_and_update(
                {"_id": key}, {"$set": update["$set"]}, return_document=ReturnDocument.AFTER)
        changed = before is None or any(before.get(k) != v for k, v in fields.items()
                                        if k != "release_at")
        grew = await self._write_slots(schedule, slots)
        if grew:
            await self.fill_from_waitlist(schedule)
        return schedule, before is None, changed or grew > 0

    async def _write_slots(self, schedule: dict[str, Any], slots: list[dict]) -> int:
        """Add new slots, resize existing ones (never below what is booked); → places added."""
        sid = schedule["_id"]
        existing = {s["key"]: s for s in schedule.get("slots", [])}
        wanted = {s["key"] for s in slots}
        for key, old in existing.items():
            if key not in wanted:
                removed = await self.schedules.update_one(
                    {"_id": sid}, {"$pull": {"slots": {"key": key, "remaining": old["capacity"]}}})
                if not removed.modified_count:
                    raise Conflict("slot_has_bookings", "该时段已有预约，不能删除",
                                   details={"his_id": schedule["his_id"], "start": key})
        added = 0
        next_seq = max((s["seq"] for s in existing.values()), default=0) + 1
        for slot in slots:
            old = existing.get(slot["key"])
            if old is None:
                pushed = await self.schedules.update_one(
                    {"_id": sid, "slots.key": {"$ne": slot["key"]}},
                    {"$push": {"slots": {**slot, "seq": next_seq, "remaining": slot["capacity"],
                                         "issued": 0}}})
                next_seq += 1
                added += slot["capacity"] if pushed.modified_count else 0
                continue
            delta = slot["capacity"] - old["capacity"]
            if delta == 0:
                continue
            done = await self.schedules.update_one(
                {"_id": sid, "slots": {"$elemMatch": {
                    "key": slot["key"], "capacity": old["capacity"],
                    "remaining": {"$gte": max(0, -delta)}}}},
                {"$set": {"slots.$.capacity": slot["capacity"]},
                 "$inc": {"slots.$.remaining": delta}})
            if not done.modified_count:
                raise Conflict("capacity_below_booked", "号源数不能少于已预约人数",
                               details={"his_id": schedule["his_id"], "start": slot["key"]})
            added += max(delta, 0)
        return added

    # ---- listings ---------------------------------------------------------------------------

    async def list_schedules(self, department_id: str | None = None, doctor_id: str | None = None,
                             day: date | None = None) -> list[ScheduleOut]:
        """Upcoming schedules of a department (with its sub-departments) or doctor."""
        if not department_id and not doctor_id:
            raise InvalidRequest("filter_required", "请指定科室或医生")
        now = self.clock.now()
        today = local_date(now)
        query: dict[str, Any] = {}
        if department_id:
            query["department_id"] = {"$in": await self._department_ids(department_id)}
        if doctor_id:
            query["doctor_id"] = oid(doctor_id, "doctor_not_found", "未找到该医生")
        if day is not None:
            if day < today:
                return []
            query["date"] = day.isoformat()
        else:
            query["date"] = {"$gte": today.isoformat(),
                             "$lte": (today + timedelta(days=14)).isoformat()}
        docs = await self.schedules.find(query).sort(
            [("date", ASCENDING), ("doctor_id", ASCENDING)]).to_list()
        order = {"morning": 0, "afternoon": 1, "evening": 2}
        docs.sort(key=lambda d: (d["date"], order[d["period"]], d.get("doctor_name", "")))
        return [self._schedule_out(d, now) for d in docs]

    async def today_schedules(self, department_id: str) -> list[ScheduleOut]:
        """Today's schedules of a department (doctor's station)."""
        return await self.list_schedules(department_id=department_id,
                                         day=local_date(self.clock.now()))

    async def get_schedule(self, schedule_id: str) -> ScheduleOut:
        """One schedule with its slots and remaining places."""
        return self._schedule_out(await self._schedule_doc(schedule_id), self.clock.now())

    async def doctor_dates(self, department_id: str) -> list[DoctorDates]:
        """Doctors of a department with the dates on which they still have places."""
        schedules = await self.list_schedules(department_id=department_id)
        dept_ids = await self._department_ids(department_id)
        doctors = await self.doctors.find({"department_id": {"$in": dept_ids},
                                           "active": {"$ne": False}}
                                          ).sort([("order", ASCENDING)]).to_list()
        by_doctor: dict[str, list[ScheduleOut]] = {}
        for s in schedules:
            by_doctor.setdefault(s.doctor_id, []).append(s)
        result = []
        for d in doctors:
            mine = by_doctor.get(str(d["_id"]), [])
            result.append(DoctorDates(
                doctor_id=str(d["_id"]), doctor_name=d["name"], doctor_title=d.get("title", ""),
                specialty=d.get("specialty", ""), photo_url=d.get("photo_url", ""),
                dates=sorted({s.date for s in mine if s.released and s.remaining > 0
                              and s.status == "open"}),
                upcoming=sorted({s.date for s in mine if s.status == "open"})))
        return result

    async def admin_schedules(self, department_id: str, day: date) -> list[ScheduleAdminOut]:
        """A department's schedules on a day, with bookings and waitlist counts (admin)."""
        now = self.clock.now()
        docs = await self.schedules.find(
            {"department_id": {"$in": await self._department_ids(department_id)},
             "date": day.isoformat()}).to_list()
        result = []
        for d in sorted(docs, key=lambda d: (d["period"] != "morning", d["period"],
                                             d.get("doctor_name", ""))):
            mine = d.get("slots", [])
            waiting = await self.waitlist.count_documents(
                {"schedule_id": d["_id"], "status": "waiting"})
            out = self._schedule_out(d, now, ScheduleAdminOut,
                                     booked=sum(s["capacity"] - s["remaining"] for s in mine),
                                     waitlist=waiting)
            result.append(out)
        return result

    async def _department_ids(self, department_id: str) -> list[ObjectId]:
        dept = oid(department_id, "department_not_found", "未找到该科室")
        if await self.departments.find_one({"_id": dept}, {"_id": 1}) is None:
            raise NotFound("department_not_found", "未找到该科室")
        children = [d["_id"] async for d in self.departments.find({"parent_id": dept}, {"_id": 1})]
        return [dept, *children]

    # ---- stop-clinic (停诊) ---------------------------------------------------------------

    async def stop_schedule(self, schedule_id: str, reason: str, actor: Any = None) -> StopResult:
        """Stop a schedule: close its slots, cancel every booking and waitlist entry, notify."""
        doc = await self._schedule_doc(schedule_id)
        now = self.clock.now()
        await self.schedules.update_one(
            {"_id": doc["_id"], "status": "open"},
            {"$set": {"status": "stopped", "stop_reason": reason, "stopped_at": now,
                      "updated_at": now}})
        await self.waitlist.update_many(
            {"schedule_id": doc["_id"], "active": True},
            {"$set": {"status": "cancelled", "active": False, "ended_at": now,
                      "end_reason": "stop_clinic"}})
        cancelled = await self.sweep_stopped(doc["_id"])
        await self._audit(actor, "registration.schedule_stopped",
                          details={"schedule_id": str(doc["_id"]), "reason": reason,
                                   "cancelled": cancelled})
        return StopResult(schedule_id=str(doc["_id"]), cancelled=cancelled)

    async def sweep_stopped(self, schedule_id: ObjectId) -> int:
        """Cancel the active bookings of a stopped schedule (also catches in-flight ones)."""
        count = 0
        now = self.clock.now()
        async for appt in self.appointments.find({"schedule_id": schedule_id, "active": True}):
            done = await self.appointments.find_one_and_update(
                {"_id": appt["_id"], "active": True},
                {"$set": {"status": "stopped", "active": False, "cancelled_at": now,
                          "updated_at": now}}, return_document=ReturnDocument.AFTER)
            if done is None:
                continue
            count += 1
            await self._release_quotas(done)
            await self.hand_refund_to_billing(done, "stop_clinic")
            await self._notify(done["patient_id"], "stop_clinic", {
                "patient": done.get("patient_masked", ""), "department": done["department_name"],
                "doctor": done["doctor_name"], "time": self._visit_time(done)},
                f"stop_clinic:{done['_id']}", urgent=True)
        return count

    async def sweep_stopped_schedules(self) -> int:
        """Background: bookings that slipped onto a schedule while it was being stopped."""
        today = local_date(self.clock.now()).isoformat()
        handled = 0
        async for s in self.schedules.find({"status": "stopped", "date": {"$gte": today}},
                                           {"_id": 1}):
            handled += await self.sweep_stopped(s["_id"])
        return handled
