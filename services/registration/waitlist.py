"""Waitlist (候补) and the hand-over of freed places.

A freed place never becomes visible as `remaining` while someone waits: `release_place`
claims the first waiting entry (one conditional update: waiting → promoting) and books
the place for that patient; only when nobody (eligible) waits does `remaining` grow.
So a place is neither lost nor doubled between a cancelling patient, the waitlist and
a concurrent booker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.clock import as_utc
from services.errors import BusinessRuleViolation, Conflict, DomainError, NotFound
from services.registration.base import (
    RegistrationBase,
    active_key,
    log,
    oid,
    slot_pipeline,
)
from services.registration.models import WaitlistOut


class WaitlistMixin(RegistrationBase):

    async def join_waitlist(self, account_id: str, patient_id: str,
                            schedule_id: str) -> WaitlistOut:
        """Queue a family member for a full schedule; freed places go to the first in line."""
        if not self.config.waitlist_enabled:
            raise BusinessRuleViolation("waitlist_disabled", "本院暂未开通候补挂号")
        patient = await self.patients.get_patient_for_account(account_id, patient_id)
        schedule = await self._schedule_doc(schedule_id)
        now = self.clock.now()
        slots = sorted((s for s in schedule.get("slots", []) if as_utc(s["start"]) > now),
                       key=lambda s: s["start"])
        if not slots:
            raise BusinessRuleViolation("slot_started", "该出诊已开始，不能再候补")
        self.check_bookable(schedule, slots[0], now)
        await self.check_patient(patient, schedule, now)
        if any(s["remaining"] > 0 for s in slots):
            raise Conflict("places_available", "该出诊仍有号源，请直接预约")
        entry = {
            "_id": ObjectId(), "active_key": active_key(patient.id, schedule["_id"]),
            "schedule_id": schedule["_id"], "patient_id": patient.id,
            "account_id": account_id, "patient_masked": patient.masked_name,
            "status": "waiting", "active": True, "created_at": now,
            "expires_at": as_utc(slots[-1]["start"]),
            "doctor_name": schedule.get("doctor_name", ""),
            "department_name": schedule.get("department_name", ""),
            "date": schedule["date"], "period": schedule["period"],
        }
        try:
            await self.waitlist.insert_one(entry)
        except DuplicateKeyError:
            raise Conflict("already_waitlisted", "该就诊人已在本次出诊的候补队列中") from None
        # a place freed between our check and the insert must not sit idle
        await self.fill_from_waitlist(schedule)
        return await self._waitlist_out(await self.waitlist.find_one({"_id": entry["_id"]}))

    async def list_waitlist(self, account_id: str) -> list[WaitlistOut]:
        """The account's waitlist entries, newest first."""
        docs = await self.waitlist.find({"account_id": account_id}).sort(
            [("created_at", -1)]).limit(50).to_list()
        return [await self._waitlist_out(d) for d in docs]

    async def cancel_waitlist(self, account_id: str, entry_id: str) -> WaitlistOut:
        """Leave the waitlist."""
        key = oid(entry_id, "waitlist_not_found", "未找到该候补记录")
        doc = await self.waitlist.find_one_and_update(
            {"_id": key, "account_id": account_id, "status": "waiting"},
            {"$set": {"status": "cancelled", "active": False, "ended_at": self.clock.now()}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            if await self.waitlist.find_one({"_id": key, "account_id": account_id}) is None:
                raise NotFound("waitlist_not_found", "未找到该候补记录")
            raise Conflict("invalid_transition", "该候补已结束")
        return await self._waitlist_out(doc)

    async def _waitlist_out(self, doc: dict[str, Any]) -> WaitlistOut:
        position = None
        if doc["status"] == "waiting":
            position = 1 + await self.waitlist.count_documents(
                {"schedule_id": doc["schedule_id"], "status": "waiting",
                 "$or": [{"created_at": {"$lt": doc["created_at"]}},
                         {"created_at": doc["created_at"], "_id": {"$lt": doc["_id"]}}]})
        return WaitlistOut(
            id=str(doc["_id"]), schedule_id=str(doc["schedule_id"]), patient_id=doc["patient_id"],
            patient_name=doc.get("patient_masked", ""), status=doc["status"], position=position,
            doctor_name=doc.get("doctor_name", ""), department_name=doc.get("department_name", ""),
            date=doc["date"], period=doc["period"],
            appointment_id=str(doc["appointment_id"]) if doc.get("appointment_id") else None,
            expires_at=doc["expires_at"], created_at=doc["created_at"])

    # ---- hand-over -------------------------------------------------------------------------

    async def release_place(self, schedule: dict[str, Any], seq: int) -> None:
        """A held place is freed: hand it to the first eligible waiting patient, else return it."""
        try:
            if schedule["status"] == "open" and await self._hand_over(schedule, seq):
                return
        except BaseException:
            await self._return_place(schedule["_id"], seq)
            raise
        await self._return_place(schedule["_id"], seq)

    async def _return_place(self, schedule_id: ObjectId, seq: int) -> None:
        await self.schedules.update_one({"_id": schedule_id},
                                        slot_pipeline(seq, True, {"remaining": 1}))

    async def fill_from_waitlist(self, schedule: dict[str, Any]) -> int:
        """Give places that are `remaining` to waiting patients (after capacity grew, or a join)."""
        handed = 0
        now = self.clock.now()
        fresh = await self.schedules.find_one({"_id": schedule["_id"]}) or schedule
        for slot in sorted(fresh.get("slots", []), key=lambda s: s["start"]):
            while fresh["status"] == "open" and as_utc(slot["start"]) > now:
                if not await self.waitlist.find_one(
                        {"schedule_id": fresh["_id"], "status": "waiting",
                         "expires_at": {"$gt": now}}, {"_id": 1}):
                    return handed
                if await self.take_place(fresh["_id"], slot["seq"]) is None:
                    break                           # this slot is full: try the next one
                try:
                    handed_over = await self._hand_over(fresh, slot["seq"])
                except BaseException:
                    await self._return_place(fresh["_id"], slot["seq"])
                    raise
                if not handed_over:
                    await self._return_place(fresh["_id"], slot["seq"])
                    return handed
                handed += 1
        return handed

    async def _hand_over(self, schedule: dict[str, Any], seq: int) -> bool:
        """Book the held place for the first eligible waiting patient; False when none."""
        now = self.clock.now()
        slot = next((s for s in schedule.get("slots", []) if s["seq"] == seq), None)
        if slot is None or as_utc(slot["start"]) <= now or self.patients is None:
            return False
        while True:
            entry = await self.waitlist.find_one_and_update(
                {"schedule_id": schedule["_id"], "status": "waiting", "expires_at": {"$gt": now}},
                {"$set": {"status": "promoting", "promoting_at": now}},
                sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER)
            if entry is None:
                return False
            try:
                patient = await self.patients.get_patient(entry["patient_id"])
                # the entry is itself active for this schedule: check the patient's other rules
                revisit_of = await self.check_patient(patient, schedule, now)
                after = await self.schedules.find_one_and_update(   # a ticket number, no place
                    {"_id": schedule["_id"]}, slot_pipeline(seq, True, {"issued": 1}),
                    projection={"slots": 1}, return_document=ReturnDocument.AFTER)
                taken = next(s for s in after["slots"] if s["seq"] == seq)
                doc = await self.do_book(patient, schedule, taken, now, revisit_of)
            except DomainError as error:
                log.info("waitlist entry skipped: %s", error.code)
                await self.waitlist.update_one(
                    {"_id": entry["_id"], "status": "promoting"},
                    {"$set": {"status": "dropped", "active": False, "ended_at": now,
                              "end_reason": error.code}})
                continue
            except BaseException:
                await self.waitlist.update_one(   # let the entry wait again; the caller returns the place
                    {"_id": entry["_id"], "status": "promoting"}, {"$set": {"status": "waiting"}})
                raise
            try:   # the place is booked now: nothing below may give it back
                await self.waitlist.update_one(
                    {"_id": entry["_id"]},
                    {"$set": {"status": "promoted", "active": False, "appointment_id": doc["_id"],
                              "ended_at": now}})
            except PyMongoError as error:
                log.warning("waitlist entry not marked promoted: %s", type(error).__name__)
            await self._notify(doc["patient_id"], "waitlist_promoted", {
                "patient": doc["patient_masked"], "department": doc["department_name"],
                "doctor": doc["doctor_name"], "time": self._visit_time(doc),
                "ticket": doc["ticket_no"]}, f"waitlist_promoted:{entry['_id']}", urgent=True)
            return True

    async def expire_waitlist(self) -> int:
        """Background: waiting entries whose schedule has begun are dropped."""
        now = self.clock.now()
        result = await self.waitlist.update_many(
            {"status": "waiting", "expires_at": {"$lte": now}},
            {"$set": {"status": "expired", "active": False, "ended_at": now}})
        handled = result.modified_count
        async for entry in self.waitlist.find(   # a hand-over that crashed half-way
                {"status": "promoting", "promoting_at": {"$lte": now - timedelta(minutes=5)}}):
            booked = await self.appointments.find_one(
                {"patient_id": entry["patient_id"], "schedule_id": entry["schedule_id"],
                 "active": True}, {"_id": 1})
            change = {"status": "promoted", "active": False, "appointment_id": booked["_id"]} \
                if booked else {"status": "waiting"}
            await self.waitlist.update_one({"_id": entry["_id"], "status": "promoting"},
                                           {"$set": change})
            handled += 1
        return handled
