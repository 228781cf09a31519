"""Booking (预约), its rules, cancellation, and the no-show (爽约) rule.

Capacity is taken by ONE conditional update on the slot (`remaining > 0`, `$inc -1`),
which also records a hold for the appointment to be written; every later check that fails
gives the place back with the hold, and a database failure in between leaves the hold for
`repair_holds` (see base.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.clock import as_utc, at_local, format_local, local_date
from services.errors import BusinessRuleViolation, Conflict
from services.qr import png_bytes
from services.registration.base import (
    PERIOD_LETTERS,
    RegistrationBase,
    active_key,
    add_hold_stage,
    drop_hold_stage,
    log,
    return_hold_pipeline,
    slot_id,
    slot_pipeline,
)
from services.registration.models import AppointmentOut


# A booking is stuck at most seconds between taking a place and writing the appointment;
# a hold older than this belongs to one the database failed under.
HOLD_GRACE = timedelta(minutes=2)


class BookingMixin(RegistrationBase):

    async def book(self, account_id: str, patient_id: str, slot_id: str) -> AppointmentOut:
        """Book a slot for one of the account's family members."""
        patient = await self.patients.get_patient_for_account(account_id, patient_id)
        return await self.book_for_patient(patient, slot_id)

    async def book_for_patient(self, patient: Any, slot_id: str) -> AppointmentOut:
        """check_* then take the place atomically; any later failure gives the place back."""
        schedule, slot = await self._schedule_and_slot(slot_id)
        now = self.clock.now()
        self.check_bookable(schedule, slot, now)
        revisit_of = await self.check_patient(patient, schedule, now)
        hold = ObjectId()                       # also the appointment's _id
        taken = await self.take_place(schedule["_id"], slot["seq"], hold=hold,
                                      holder={"patient_id": patient.id,
                                              "account_id": patient.account_id})
        if taken is None:
            raise Conflict("slot_full", "该时段号源已满，可选择其他时段或登记候补",
                           details={"slot_id": slot_id, "schedule_id": str(schedule["_id"])})
        try:
            doc = await self.do_book(patient, schedule, taken, now, revisit_of,
                                     appointment_id=hold)
        except (PyMongoError, asyncio.CancelledError):
            raise   # unknown whether the appointment was written: repair_holds settles it
        except BaseException:
            await self.give_back_hold(schedule, slot["seq"], hold)
            raise
        if not await self.drop_hold(schedule["_id"], hold):
            doc = await self._take_again(doc, schedule)
        doc = await self.bill_fee(doc, patient)
        await self._notify(doc["patient_id"], "appointment_booked", {
            "patient": doc["patient_masked"], "department": doc["department_name"],
            "doctor": doc["doctor_name"], "time": self._visit_time(doc),
            "ticket": doc["ticket_no"]}, f"appointment_booked:{doc['_id']}")
        return self._appointment_out(doc, now)

    async def take_place(self, schedule_id: ObjectId, seq: int, hold: ObjectId | None = None,
                         holder: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """THE capacity update: one place of an open schedule's slot, or None when full.

        One atomic update of the schedule document: slot `seq` loses a place and issues a
        ticket number only if the schedule is open and the slot has `remaining > 0`
        (`update_one`: modified_count says whether it did). With `hold`, the same update
        records the hold {id, seq, at, **holder} that `drop_hold` or `repair_holds` settles
        (`holder`: the patient and account, whose daily counters the repair recounts).
        """
        when = {"$and": [{"$gt": ["$$s.remaining", 0]}, {"$eq": ["$status", "open"]}]}
        pipeline = slot_pipeline(seq, when, {"remaining": -1, "issued": 1})
        if hold is not None:
            record = {"id": hold, "seq": seq, "at": self.clock.now(), **(holder or {})}
            pipeline = [add_hold_stage(seq, when, record), *pipeline]
        taken = await self.schedules.update_one({"_id": schedule_id}, pipeline)
        if not taken.modified_count:
            return None
        if hold is None:
            return {"seq": seq}
        # the hold recorded this booking's ticket number; the slot's other fields are fixed
        doc = await self.schedules.find_one({"_id": schedule_id}, {"slots": 1, "holds": 1})
        mine = next(h for h in doc["holds"] if h["id"] == hold)
        slot = next(s for s in doc["slots"] if s["seq"] == seq)
        return {**slot, "issued": mine["ticket"]}

    async def drop_hold(self, schedule_id: ObjectId, hold: ObjectId) -> bool:
        """The appointment is written: forget its hold. False if it was gone already (the
        repair job gave the place back while this booking was stuck)."""
        dropped = await self.schedules.update_one({"_id": schedule_id}, [drop_hold_stage(hold)])
        return dropped.modified_count == 1

    async def give_back_hold(self, schedule: dict[str, Any], seq: int, hold: ObjectId) -> bool:
        """No appointment was written for `hold`: return its place (at most once) and offer
        it to the waitlist."""
        result = await self.schedules.update_one({"_id": schedule["_id"]},
                                                 return_hold_pipeline(seq, hold))
        returned = result.modified_count == 1
        if returned:   # fill_from_waitlist reads the schedule again and checks it is open
            await self.fill_from_waitlist(schedule)
        return returned

    async def _take_again(self, doc: dict[str, Any], schedule: dict[str, Any]) -> dict[str, Any]:
        """The repair job returned this booking's place while it was stuck: take one again
        (under the same hold, so a failure now is repaired too), or undo the booking."""
        seq = doc["slot_seq"]
        if await self.take_place(schedule["_id"], seq, hold=doc["_id"]) is not None:
            await self.drop_hold(schedule["_id"], doc["_id"])
            return doc
        now = self.clock.now()
        await self.appointments.update_one(
            {"_id": doc["_id"], "status": "booked"},
            {"$set": {"status": "cancelled", "active": False, "cancelled_at": now,
                      "cancel_reason": "place_lost", "updated_at": now}})
        await self._release_quotas(doc)
        raise Conflict("slot_full", "该时段号源已满，可选择其他时段或登记候补",
                       details={"slot_id": doc["slot_id"], "schedule_id": str(schedule["_id"])})

    async def repair_holds(self) -> int:
        """Background: settle holds older than HOLD_GRACE, left by bookings the database
        failed under. The appointment exists → the place is its: drop the hold; it does not →
        give the place back. Returns the holds settled."""
        now = self.clock.now()
        due = now - HOLD_GRACE
        settled = 0
        stale = await self.schedules.find({"holds.at": {"$lte": due}},
                                          {"holds": 1, "status": 1, "date": 1}).limit(50).to_list()
        for schedule in stale:
            for hold in schedule.get("holds", []):
                if as_utc(hold["at"]) > due:
                    continue
                if await self.appointments.find_one({"_id": hold["id"]}, {"_id": 1}):
                    settled += await self.drop_hold(schedule["_id"], hold["id"])
                elif await self.give_back_hold(schedule, hold["seq"], hold["id"]):
                    settled += 1
                    if "patient_id" in hold:
                        await self._recount_quotas(hold["patient_id"], hold["account_id"],
                                                   schedule["date"])
                    log.warning("registration: gave back a place held by a failed booking "
                                "(schedule %s, slot %s)", schedule["_id"], hold["seq"])
        return settled

    async def _recount_quotas(self, patient_id: Any, account_id: Any, day: str) -> None:
        """Set the patient's and the account's daily counters to their active bookings that
        day: a booking that died may have taken a count it never used."""
        for key, who in ((f"p|{patient_id}|{day}", {"patient_id": patient_id}),
                         (f"a|{account_id}|{day}", {"account_id": account_id})):
            active = await self.appointments.count_documents({**who, "date": day,
                                                              "active": True})
            await self.quotas.update_one({"_id": key}, {"$set": {"active": active}})

    def check_bookable(self, schedule: dict[str, Any], slot: dict[str, Any],
                       now: datetime) -> None:
        """The schedule is released and open, and the slot has not started."""
        if schedule["status"] != "open":
            raise BusinessRuleViolation("clinic_stopped", "该医生本次出诊已停诊，请选择其他医生或日期")
        release_at = as_utc(schedule["release_at"])
        if now < release_at:
            raise BusinessRuleViolation(
                "not_released", f"该号源将于 {format_local(release_at)} 开放预约",
                details={"release_at": release_at.isoformat()})
        if as_utc(slot["start"]) <= now:
            raise BusinessRuleViolation("slot_started", "该时段已开始，不能再预约")

    async def check_patient(self, patient: Any, schedule: dict[str, Any],
                            now: datetime) -> ObjectId | None:
        """Real name, department limits, no-show block, duplicates; → the visit a free revisit follows."""
        cfg = self.config
        if cfg.require_real_name and not getattr(patient, "real_name_verified", False):
            raise BusinessRuleViolation("real_name_required", "就诊人须先完成实名认证才能预约挂号")
        self._check_department_limits(patient, schedule)
        block = await self.blocks.find_one({"_id": patient.id})
        if block and as_utc(block["until"]) > now:
            raise BusinessRuleViolation(
                "booking_blocked",
                f"该就诊人近 {cfg.no_show_window_days} 天内爽约已达 {cfg.no_show_limit} 次，"
                f"{format_local(block['until'], '%Y年%m月%d日')}前暂停网上预约",
                details={"until": as_utc(block["until"]).isoformat()})
        since = now - timedelta(days=cfg.revisit_free_days)
        related = await self.appointments.find(
            {"patient_id": patient.id,
             "$or": [{"date": schedule["date"], "active": True},
                     {"status": "completed", "completed_at": {"$gte": since}}]},
            {"schedule_id": 1, "active": 1, "status": 1, "doctor_id": 1, "department_id": 1,
             "completed_at": 1}).to_list()
        active_today = [a for a in related if a.get("active")]
        if any(a["schedule_id"] == schedule["_id"] for a in active_today):
            raise Conflict("duplicate_booking", "该就诊人已预约本次出诊，请勿重复挂号")
        if len(active_today) >= cfg.max_active_per_patient_per_day:
            raise BusinessRuleViolation(
                "patient_daily_limit",
                f"每位就诊人同一天最多预约 {cfg.max_active_per_patient_per_day} 个号")
        day = datetime.fromisoformat(schedule["date"]).date()
        for visit in related:
            if visit["status"] != "completed":
                continue
            same = visit["doctor_id"] == schedule["doctor_id"] or \
                visit["department_id"] == schedule["department_id"]
            if same and (day - local_date(visit["completed_at"])).days <= cfg.revisit_free_days:
                return visit["_id"]
        return None

    def _check_department_limits(self, patient: Any, schedule: dict[str, Any]) -> None:
        keys = (schedule.get("department_code", ""), schedule.get("department_name", ""))
        name = schedule.get("department_name", "本科室")
        sex = next((self.config.sex_limits[k] for k in keys if k in self.config.sex_limits), None)
        if sex and getattr(patient, "sex", None) != sex:
            who = "女性" if sex == "female" else "男性"
            raise BusinessRuleViolation("department_sex_limit", f"{name}仅接待{who}患者")
        limit = next((self.config.age_limits[k] for k in keys if k in self.config.age_limits), None)
        if limit is None:
            return
        day = datetime.fromisoformat(schedule["date"]).date()
        age = patient.age_on(day) if getattr(patient, "birth_date", None) else None
        if age is None:
            raise BusinessRuleViolation("department_age_limit",
                                        f"{name}有年龄要求，请先完善就诊人的出生日期")
        if limit.max_age is not None and age > limit.max_age:
            raise BusinessRuleViolation("department_age_limit",
                                        f"{name}仅接待 {limit.max_age + 1} 岁以下患者")
        if limit.min_age is not None and age < limit.min_age:
            raise BusinessRuleViolation("department_age_limit",
                                        f"{name}仅接待 {limit.min_age} 岁及以上患者")

    async def do_book(self, patient: Any, schedule: dict[str, Any], taken: dict[str, Any],
                      now: datetime, revisit_of: ObjectId | None,
                      appointment_id: ObjectId | None = None) -> dict[str, Any]:
        """Write the appointment for a place already taken (`taken` = the slot after its $inc).

        Preconditions: the slot's capacity was taken in the same update that issued
        `taken["issued"]`; the caller gives the place back if this raises.
        """
        cfg = self.config
        per_patient, per_account = (cfg.max_active_per_patient_per_day,
                                    cfg.max_active_per_account_per_day)
        keys = [(f"p|{patient.id}|{schedule['date']}", per_patient, "patient_daily_limit",
                 f"每位就诊人同一天最多预约 {per_patient} 个号"),
                (f"a|{patient.account_id}|{schedule['date']}", per_account, "account_daily_limit",
                 f"每个账号同一天最多预约 {per_account} 个号")]
        held: list[str] = []
        try:
            for key, limit, code, message in keys:
                if not await self._take_quota(key, limit):
                    raise BusinessRuleViolation(code, message)
                held.append(key)
            doc = self._appointment_doc(patient, schedule, taken, now, revisit_of, held)
            if appointment_id is not None:
                doc["_id"] = appointment_id
            try:
                await self.appointments.insert_one(doc)
            except DuplicateKeyError:
                raise Conflict("duplicate_booking", "该就诊人已预约本次出诊，请勿重复挂号") from None
        except BaseException:
            for key in held:
                await self._give_back_quota(key)
            raise
        return doc

    def _appointment_doc(self, patient: Any, schedule: dict[str, Any], taken: dict[str, Any],
                         now: datetime, revisit_of: ObjectId | None,
                         quotas: list[str]) -> dict[str, Any]:
        issued = taken["issued"]
        letter = PERIOD_LETTERS[schedule["period"]]
        ticket = f"{letter}{taken['seq']:02d}{issued:02d}"
        return {
            "_id": ObjectId(), "active_key": active_key(patient.id, schedule["_id"]),
            "patient_id": patient.id, "account_id": patient.account_id,
            "patient_masked": patient.masked_name, "schedule_id": schedule["_id"],
            "slot_id": slot_id(schedule["_id"], taken["seq"]), "slot_seq": taken["seq"],
            "ticket_no": ticket, "status": "booked", "active": True,
            "doctor_id": schedule["doctor_id"], "doctor_name": schedule.get("doctor_name", ""),
            "doctor_title": schedule.get("doctor_title", ""),
            "department_id": schedule["department_id"],
            "department_name": schedule.get("department_name", ""),
            "campus_code": schedule.get("campus_code", ""), "clinic_id": schedule.get("clinic_id", ""),
            "room": schedule.get("room", ""), "date": schedule["date"], "period": schedule["period"],
            "slot_start": taken["start"], "slot_end": taken["end"],
            "fee_fen": 0 if revisit_of else schedule["fee_fen"],
            "fee_status": "free_revisit" if revisit_of else "pay_at_check_in",
            "revisit_of": revisit_of, "quotas": quotas, "created_at": now, "updated_at": now,
        }

    async def _take_quota(self, key: str, limit: int) -> bool:
        """One more active booking under `key` if fewer than `limit` (one atomic upsert)."""
        current = {"$ifNull": ["$active", 0]}
        result = await self.quotas.update_one(
            {"_id": key},
            [{"$set": {"active": {"$cond": [{"$lt": [current, limit]},
                                            {"$add": [current, 1]}, current]}}}],
            upsert=True)
        # an unchanged document means the limit was reached; a new one counts this booking
        return result.modified_count == 1 or (result.upserted_id is not None and limit > 0)

    async def _release_quotas(self, appointment: dict[str, Any]) -> None:
        for key in appointment.get("quotas", []):
            await self._give_back_quota(key)

    async def _give_back_quota(self, key: str) -> None:
        await self.quotas.update_one(
            {"_id": key},
            [{"$set": {"active": {"$max": [{"$subtract": [{"$ifNull": ["$active", 0]}, 1]}, 0]}}}])

    @staticmethod
    def _visit_time(doc: dict[str, Any]) -> str:
        return format_local(doc["slot_start"], "%m月%d日 %H:%M")

    # ---- listing and cancelling --------------------------------------------------------------

    async def list_appointments(self, account_id: str) -> list[AppointmentOut]:
        """The account's appointments (all family members), newest visit first."""
        now = self.clock.now()
        docs = await self.appointments.find({"account_id": account_id}).sort(
            [("slot_start", -1)]).limit(100).to_list()
        return [self._appointment_out(d, now) for d in docs]

    async def get_appointment(self, account_id: str, appointment_id: str) -> AppointmentOut:
        """One of the account's appointments."""
        return self._appointment_out(await self._own_appointment(account_id, appointment_id))

    async def ticket_png(self, account_id: str, appointment_id: str) -> bytes:
        """The ticket's QR code as a PNG image."""
        doc = await self._own_appointment(account_id, appointment_id)
        return png_bytes(self.ticket_code(doc))

    async def cancel(self, account_id: str, appointment_id: str) -> AppointmentOut:
        """Cancel before the cutoff; the place goes back (to the first waitlisted patient)."""
        doc = await self._own_appointment(account_id, appointment_id)
        now = self.clock.now()
        if doc["status"] != "booked":
            raise Conflict("invalid_transition", "只有待就诊的预约可以取消",
                           details={"status": doc["status"]})
        cutoff = as_utc(doc["slot_start"]) - timedelta(minutes=self.config.cancel_cutoff_minutes)
        if now >= cutoff:
            raise BusinessRuleViolation("cancel_cutoff_passed",
                                        f"已过取消时限（{format_local(cutoff)}），不能取消")
        done = await self.appointments.find_one_and_update(
            {"_id": doc["_id"], "status": "booked"},
            {"$set": {"status": "cancelled", "active": False, "cancelled_at": now,
                      "updated_at": now}}, return_document=ReturnDocument.AFTER)
        if done is None:
            raise Conflict("invalid_transition", "预约状态已变化，请刷新后重试")
        await self._release_quotas(done)
        schedule = await self._schedule_doc(done["schedule_id"])
        await self.release_place(schedule, done["slot_seq"])
        await self.hand_refund_to_billing(done, "cancelled")
        await self._notify(done["patient_id"], "appointment_cancelled", {
            "patient": done.get("patient_masked", ""), "department": done["department_name"],
            "time": self._visit_time(done)}, f"appointment_cancelled:{done['_id']}")
        return self._appointment_out(done, now)

    # ---- reminders (就诊提醒) ------------------------------------------------------------

    async def send_reminders(self) -> int:
        """Background: from `reminder_at` (Asia/Shanghai) on the last open day before a visit,
        remind each patient still booked, once. Those who booked after that moment are left
        alone: their booking message is a few minutes old."""
        now = self.clock.now()
        today = local_date(now)
        moment = at_local(today, self.config.reminder_at)
        if now < moment:
            return 0
        # On a closed day no reminder goes; the last open day's evening covers the visits up
        # to the next open day, while the patient can still reach the hospital to change.
        if self.calendar is not None and not (await self.calendar.fresh()).is_open(today):
            return 0
        visit_days = (self.calendar.days_covered_by(today) if self.calendar is not None
                      else [today + timedelta(days=1)])
        due = await self.appointments.find(
            {"date": {"$in": [d.isoformat() for d in visit_days]}, "status": "booked",
             "reminded": {"$ne": True},
             "created_at": {"$lt": moment}}).limit(100).to_list()
        campuses = {c["code"]: c["name"] async for c in self.db["campuses"].find(
            {}, {"code": 1, "name": 1})} if due else {}
        for doc in due:
            place = " ".join(part for part in (campuses.get(doc.get("campus_code", ""), ""),
                                               doc.get("room") or doc["department_name"]) if part)
            # the outbox's dedup key makes a repeat a no-op; the mark keeps the query small
            await self._notify(doc["patient_id"], "appointment_reminder", {
                "patient": doc.get("patient_masked", ""), "department": doc["department_name"],
                "doctor": doc.get("doctor_name", ""),
                "time": format_local(doc["slot_start"], "%H:%M"),
                "place": place},
                f"appointment_reminder:{doc['_id']}")
            await self.appointments.update_one({"_id": doc["_id"]}, {"$set": {"reminded": True}})
        return len(due)

    # ---- no-shows -----------------------------------------------------------------------

    async def mark_no_shows(self) -> int:
        """Background: bookings not checked in by their slot's end become no-shows."""
        now = self.clock.now()
        cfg = self.config
        handled = 0
        due = await self.appointments.find({"status": "booked", "slot_end": {"$lte": now}}
                                           ).limit(100).to_list()
        for appt in due:
            done = await self.appointments.find_one_and_update(
                {"_id": appt["_id"], "status": "booked"},
                {"$set": {"status": "no_show", "active": False, "no_show_at": now,
                          "updated_at": now}}, return_document=ReturnDocument.AFTER)
            if done is None:
                continue
            handled += 1
            await self._release_quotas(done)
            recent = await self.appointments.count_documents(
                {"patient_id": done["patient_id"], "status": "no_show",
                 "slot_end": {"$gte": now - timedelta(days=cfg.no_show_window_days)}})
            if recent >= cfg.no_show_limit:
                until = now + timedelta(days=cfg.no_show_block_days)
                await self.blocks.update_one(
                    {"_id": done["patient_id"]},
                    {"$max": {"until": until}, "$set": {"no_shows": recent, "updated_at": now}},
                    upsert=True)
        return handled

