"""Shared state of the registration service: collections, indexes, lookups, renderers.

Collections (owned by registration):
    schedules     {_id = schedule_oid(his_id), his_id, doctor_id, doctor_name, doctor_title,
                   department_id, department_code, department_name, campus_code, clinic_id,
                   room, date "YYYY-MM-DD" (Asia/Shanghai), period, type, fee_fen,
                   status open|stopped, release_at, created_at, updated_at,
                   slots: [{seq, key "HH:MM", start, end (UTC), capacity, remaining, issued}],
                   holds: [{id = the appointment's _id to be, seq, at}]}
    appointments  {_id, active_key (partial unique while active), patient_id, account_id,
                   schedule_id, slot_id "<schedule id>-<seq>", slot_seq, ticket_no, status,
                   active, slot_start, slot_end, date, doctor/department copies, fee_fen,
                   fee_status, revisit_of, patient_masked, quotas, queue_key, ...}
    waitlist      {_id, active_key (partial unique while active), schedule_id, patient_id,
                   account_id, status, active, expires_at, ...}
    booking_quotas {_id "p|patient|date" or "a|account|date", active}
    booking_blocks {_id patient_id, until, no_shows}

Slots live inside their schedule: one document holds a clinic session's whole inventory,
so taking a place is ONE conditional update on it (`status: open` and the slot's
`remaining > 0` in the filter, `$inc` on the matched element), and stopping the clinic
shuts every slot in the same write. Invariant: a slot's `remaining` never drops below 0
and `capacity - remaining` equals the active appointments holding it; places move only
by that update, or by a hand-over from a cancelled appointment straight to a waitlisted
patient (remaining untouched).

A booking records a hold {id, seq, at} in the same update that takes the place, and drops it
once the appointment (whose _id is the hold's id) is written. If the database fails in
between, the hold stays: `repair_holds` later keeps the place when the appointment exists
and gives it back when it does not, in one conditional update, so a crash never loses a
place and never returns one twice.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.clock import Clock, as_utc, format_local
from services.crypto import TokenSigner
from services.errors import DomainError, NotFound
from services.registration.config import RegistrationConfig
from services.registration.models import (
    PERIOD_NAMES,
    STATUS_NAMES,
    TYPE_NAMES,
    AppointmentOut,
    ScheduleOut,
    SlotOut,
)

log = logging.getLogger("palm.registration")

ACTIVE_STATUSES = ("booked", "checked_in", "called")
PERIOD_LETTERS = {"morning": "A", "afternoon": "P", "evening": "E"}
TICKET_PURPOSE = "ticket"
CLINIC_PURPOSE = "clinic"


class PatientDirectory(Protocol):
    """What registration needs from identity (services.identity.IdentityService)."""

    async def get_patient_for_account(self, account_id: str, patient_id: str) -> Any: ...
    async def get_patient(self, patient_id: str) -> Any: ...
    async def contact_for_patient(self, patient_id: str) -> Any: ...


def oid(value: Any, code: str, message: str) -> ObjectId:
    """An ObjectId from outside input; a malformed one is simply not found."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError):
        raise NotFound(code, message) from None


def schedule_oid(his_id: str) -> ObjectId:
    """A schedule's _id derived from the HIS id: idempotency rides on the primary key.

    (On the embedded database a unique secondary index costs far more per insert than
    the primary key does; on MongoDB both are cheap, and this stays correct there.)
    """
    return ObjectId(hashlib.sha1(f"schedule|{his_id}".encode()).hexdigest()[:24])


def slot_id(schedule_id: Any, seq: int) -> str:
    """The public id of a slot: its schedule's id and its sequence number."""
    return f"{schedule_id}-{seq}"


def parse_slot_id(value: str) -> tuple[ObjectId, int]:
    """(schedule id, seq) from a slot id; a malformed one is simply not found."""
    head, _, tail = str(value).rpartition("-")
    if not tail.isdigit() or len(tail) > 3:
        raise NotFound("slot_not_found", "未找到该号源")
    return oid(head, "slot_not_found", "未找到该号源"), int(tail)


def active_key(patient_id: str, schedule_id: Any) -> str:
    """The text the partial unique indexes hold while a booking / waitlist entry is active."""
    return f"{patient_id}|{schedule_id}"


def slot_pipeline(seq: int, when: Any, change: dict[str, Any]) -> list[dict[str, Any]]:
    """An update pipeline applying `change` ({field: delta}) to slot `seq` when `when` holds.

    The condition rides inside the update and the filter is the primary key alone: the
    same single-document atomicity as a conditional filter, and on both embedded engines an
    `_id`-only filter avoids a collection scan. Send it with `update_one`: `modified_count`
    is 1 exactly when the condition held (a pipeline whose conditions fail leaves the
    document as it was). Not with `find_one_and_update`, whose cost grows with the collection
    on SecantusDB (22 ms at 1k schedules, 2.4 s at 100k: `bench/db_engines.py`) and whose
    before-images are stale there under concurrency.
    """
    merged = {field: {"$add": [f"$$s.{field}", delta]} for field, delta in change.items()}
    applies = _slot_applies(seq, when)
    return [{"$set": {"slots": {"$map": {"input": "$slots", "as": "s", "in": {
        "$cond": [applies, {"$mergeObjects": ["$$s", merged]}, "$$s"]}}}}}]


def slot_takes(seq: int, when: Any) -> dict[str, Any]:
    """Expression: slot `seq` exists and `when` holds for it."""
    return {"$gt": [{"$size": {"$filter": {"input": "$slots", "as": "s",
                                           "cond": _slot_applies(seq, when)}}}, 0]}


def _slot_applies(seq: int, when: Any) -> dict[str, Any]:
    """Expression over the slot `$$s`: it is slot `seq` and `when` holds."""
    return {"$and": [{"$eq": ["$$s.seq", seq]}, when]}


def has_hold(hold_id: ObjectId) -> dict[str, Any]:
    """Expression: the schedule holds `hold_id`."""
    return {"$gt": [{"$size": {"$filter": {"input": {"$ifNull": ["$holds", []]}, "as": "h",
                                           "cond": {"$eq": ["$$h.id", hold_id]}}}}, 0]}


def add_hold_stage(seq: int, when: Any, hold: dict[str, Any]) -> dict[str, Any]:
    """Pipeline stage (before `slot_pipeline`): append `hold` when slot `seq` meets `when`,
    with `ticket`: the slot's ticket number this update issues (its `issued` + 1)."""
    taking = slot_takes(seq, when)
    held = {"$ifNull": ["$holds", []]}
    this_slot = {"$arrayElemAt": [{"$filter": {"input": "$slots", "as": "s",
                                               "cond": {"$eq": ["$$s.seq", seq]}}}, 0]}
    record = {"$mergeObjects": [{"$literal": hold},
                                {"ticket": {"$let": {"vars": {"slot": this_slot}, "in": {
                                    "$add": [{"$ifNull": ["$$slot.issued", 0]}, 1]}}}}]}
    return {"$set": {"holds": {"$cond": [taking, {"$concatArrays": [held, [record]]}, held]}}}


def drop_hold_stage(hold_id: ObjectId) -> dict[str, Any]:
    """Pipeline stage: remove the hold `hold_id` (if present)."""
    return {"$set": {"holds": {"$filter": {"input": {"$ifNull": ["$holds", []]}, "as": "h",
                                           "cond": {"$ne": ["$$h.id", hold_id]}}}}}


def return_hold_pipeline(seq: int, hold_id: ObjectId) -> list[dict[str, Any]]:
    """Give the place of hold `hold_id` back to slot `seq` and drop the hold, only if the hold
    is still there: returning it twice is impossible."""
    return [*slot_pipeline(seq, has_hold(hold_id), {"remaining": 1}), drop_hold_stage(hold_id)]


def stamp(moment: datetime) -> str:
    """A fixed-width sortable text form of a UTC instant (queue keys)."""
    return as_utc(moment).strftime("%Y%m%d%H%M%S%f")


def time_label(start: datetime, end: datetime) -> str:
    return f"{format_local(start, '%H:%M')}-{format_local(end, '%H:%M')}"


class RegistrationBase:
    def __init__(self, db: AsyncDatabase, clock: Clock, signer: TokenSigner,
                 config: RegistrationConfig, *, patients: PatientDirectory | None = None,
                 notify: Any = None, audit: Any = None, public_url: str = ""):
        self.db = db
        self.clock = clock
        self.signer = signer
        self.config = config
        self.patients = patients
        self.notify = notify
        self.audit = audit
        self.public_url = public_url
        self.schedules = db["schedules"]
        self.appointments = db["appointments"]
        self.waitlist = db["waitlist"]
        self.quotas = db["booking_quotas"]
        self.blocks = db["booking_blocks"]
        self.doctors = db["doctors"]
        self.departments = db["departments"]

    billing: Any = None
    calendar: Any = None     # services/calendar HospitalCalendar: open and closed days

    def connect(self, *, patients: PatientDirectory, notify: Any, audit: Any,
                billing: Any = None, calendar: Any = None) -> None:
        """Wire the collaborators built beside this service (server/startup.py)."""
        self.patients, self.notify, self.audit = patients, notify, audit
        self.billing = billing
        self.calendar = calendar
        if billing is not None:
            billing.on_settled("registration", self.on_fee_paid, name="registration")

    async def ensure_indexes(self) -> None:
        # Unique keys are single string fields or _id (see schedule_oid): cheap on both the
        # embedded database and MongoDB.
        await self.schedules.create_index([("department_id", ASCENDING), ("date", ASCENDING)])
        await self.schedules.create_index([("doctor_id", ASCENDING), ("date", ASCENDING)])
        await self.schedules.create_index([("clinic_id", ASCENDING), ("date", ASCENDING)])
        await self.schedules.create_index([("status", ASCENDING), ("date", ASCENDING)])
        a = self.appointments
        # one active booking per patient per schedule, whatever the races
        await a.create_index("active_key", unique=True, name="one_active_per_schedule",
                             partialFilterExpression={"active": True})
        await a.create_index([("patient_id", ASCENDING), ("date", ASCENDING)])
        await a.create_index([("patient_id", ASCENDING), ("status", ASCENDING),
                              ("completed_at", DESCENDING)])
        await a.create_index([("account_id", ASCENDING), ("slot_start", DESCENDING)])
        await a.create_index([("status", ASCENDING), ("slot_end", ASCENDING)])
        await a.create_index([("date", ASCENDING), ("status", ASCENDING)])
        await a.create_index([("schedule_id", ASCENDING), ("status", ASCENDING),
                              ("queue_key", ASCENDING)])
        await a.create_index([("slot_id", ASCENDING), ("active", ASCENDING)])
        w = self.waitlist
        await w.create_index("active_key", unique=True, name="one_active_wait",
                             partialFilterExpression={"active": True})
        await w.create_index([("schedule_id", ASCENDING), ("status", ASCENDING),
                              ("created_at", ASCENDING)])
        await w.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await w.create_index([("account_id", ASCENDING), ("created_at", DESCENDING)])

    # ---- lookups ----------------------------------------------------------------------

    async def _schedule_doc(self, schedule_id: Any) -> dict[str, Any]:
        doc = await self.schedules.find_one(
            {"_id": oid(schedule_id, "schedule_not_found", "未找到该排班")})
        if doc is None:
            raise NotFound("schedule_not_found", "未找到该排班")
        return doc

    async def _schedule_and_slot(self, slot_id_text: str) -> tuple[dict[str, Any], dict[str, Any]]:
        schedule_id, seq = parse_slot_id(slot_id_text)
        doc = await self.schedules.find_one({"_id": schedule_id})
        slot = next((s for s in (doc or {}).get("slots", []) if s["seq"] == seq), None)
        if doc is None or slot is None:
            raise NotFound("slot_not_found", "未找到该号源")
        return doc, slot

    async def _own_appointment(self, account_id: str, appointment_id: str) -> dict[str, Any]:
        """The appointment if it belongs to this account (another account's → 404)."""
        doc = await self.appointments.find_one(
            {"_id": oid(appointment_id, "appointment_not_found", "未找到该预约"),
             "account_id": account_id})
        if doc is None:
            raise NotFound("appointment_not_found", "未找到该预约")
        return doc

    # ---- collaborators (identity, notify, audit, billing) ------------------------------

    async def _notify(self, patient_id: str, template: str, params: dict[str, Any],
                      dedup_key: str, urgent: bool = False) -> None:
        """Queue one message to the patient's contact; a failure never undoes the booking."""
        if self.notify is None or self.patients is None:
            return
        try:
            recipient = await self.patients.contact_for_patient(patient_id)
            await self.notify.send(template, recipient, template, params, dedup_key,
                                   urgent=urgent)
        except (DomainError, PyMongoError) as error:
            log.warning("notification %s not queued: %s", template, type(error).__name__)

    async def _audit(self, actor: Any, action: str, *, patient_id: str | None = None,
                     details: dict[str, Any] | None = None) -> None:
        if self.audit is not None and actor is not None:
            await self.audit.record(actor, action, patient_id=patient_id, details=details)

    async def bill_fee(self, appointment: dict[str, Any], patient: Any) -> dict[str, Any]:
        """A registration fee bill (source "registration") for a new paid booking.

        The booking stands whether or not the fee is paid online: the patient pays on the
        bills page (WeChat Pay) or at check-in. A free revisit or a free clinic has no bill.
        """
        if self.billing is None or not appointment.get("fee_fen"):
            return appointment
        fee = appointment["fee_fen"]
        item = {"name": f"挂号费 {appointment['department_name']} {appointment['doctor_name']}".strip(),
                "category": "挂号", "quantity": "1", "unit": "次", "unit_price_fen": fee,
                "amount_fen": fee}
        bill, _created = await self.billing.create_bill(
            source="registration", source_ref=str(appointment["_id"]), patient=patient,
            items=[item], title=f"挂号费（{appointment['date']} {appointment['department_name']}）")
        updated = await self.appointments.find_one_and_update(
            {"_id": appointment["_id"], "fee_status": "pay_at_check_in"},
            {"$set": {"fee_status": "unpaid", "bill_id": bill.id}}, return_document=ReturnDocument.AFTER)
        return updated or appointment

    async def on_fee_paid(self, bill: Any) -> None:
        """Billing's settlement listener: the appointment's fee is paid (idempotent)."""
        ref = bill.get("source_ref") if isinstance(bill, dict) else getattr(bill, "source_ref", None)
        if not ref or not ObjectId.is_valid(ref):
            return
        await self.appointments.update_one(
            {"_id": ObjectId(ref), "fee_status": {"$in": ["unpaid", "pay_at_check_in"]}},
            {"$set": {"fee_status": "paid", "fee_paid_at": self.clock.now()}})

    async def hand_refund_to_billing(self, appointment: dict[str, Any], reason: str) -> None:
        """THE billing integration point for a cancelled or stopped appointment.

        A paid fee is refunded in full (automatically, through billing, which never refunds
        more than was paid); an unpaid fee bill is withdrawn so it cannot be paid any more.
        """
        bill_id = appointment.get("bill_id")
        if self.billing is None or not bill_id:
            return
        current = await self.appointments.find_one({"_id": appointment["_id"]}, {"fee_status": 1})
        status = (current or appointment).get("fee_status")
        try:
            if status == "paid":
                text = "停诊退费" if reason == "stop_clinic" else "取消预约退费"
                await self.billing.refund(bill_id, appointment["fee_fen"], text, "registration")
                await self.appointments.update_one({"_id": appointment["_id"]},
                                                   {"$set": {"fee_status": "refunding"}})
            elif not await self.billing.cancel_bill(bill_id):
                # paid in the meantime: the settlement listener marks it paid, refund it now
                await self.billing.refund(bill_id, appointment["fee_fen"], "取消预约退费", "registration")
        except DomainError as error:   # already refunded, or nothing left to refund
            log.warning("registration refund for %s not started: %s", appointment["_id"], error.code)

    # ---- renderers ----------------------------------------------------------------------

    def ticket_code(self, doc: dict[str, Any]) -> str:
        """The signed content of the ticket's QR code (read by kiosks)."""
        expires = as_utc(doc["slot_end"]) + timedelta(days=1)
        return self.signer.sign(TICKET_PURPOSE, {"a": str(doc["_id"])}, expires.timestamp())

    def clinic_code(self, clinic_id: str) -> str:
        """The signed content of a clinic's check-in QR code (printed at the clinic)."""
        return self.signer.sign(CLINIC_PURPOSE, {"c": clinic_id}, None)

    def _appointment_out(self, doc: dict[str, Any], now: datetime | None = None) -> AppointmentOut:
        now = now or self.clock.now()
        start, end = as_utc(doc["slot_start"]), as_utc(doc["slot_end"])
        cutoff = start - timedelta(minutes=self.config.cancel_cutoff_minutes)
        opens = start - timedelta(minutes=self.config.check_in_before_minutes)
        return AppointmentOut(
            id=str(doc["_id"]), ticket_no=doc["ticket_no"], status=doc["status"],
            status_name=STATUS_NAMES.get(doc["status"], doc["status"]),
            patient_id=doc["patient_id"], patient_name=doc.get("patient_masked", ""),
            schedule_id=str(doc["schedule_id"]), slot_id=doc["slot_id"],
            doctor_id=str(doc["doctor_id"]), doctor_name=doc.get("doctor_name", ""),
            doctor_title=doc.get("doctor_title", ""), department_id=str(doc["department_id"]),
            department_name=doc.get("department_name", ""), campus_code=doc.get("campus_code", ""),
            clinic_id=doc.get("clinic_id", ""), room=doc.get("room", ""), date=doc["date"],
            period=doc["period"], slot_start=start, slot_end=end, time_label=time_label(start, end),
            fee_fen=doc["fee_fen"], fee_status=doc.get("fee_status", "pay_at_check_in"),
            bill_id=doc.get("bill_id"),
            revisit_of=str(doc["revisit_of"]) if doc.get("revisit_of") else None,
            qr_code=self.ticket_code(doc), qr_url=f"/api/v1/appointments/{doc['_id']}/qr",
            checked_in_at=doc.get("checked_in_at"), late=doc.get("late", False),
            cancellable=doc["status"] == "booked" and now < cutoff,
            can_check_in=doc["status"] == "booked" and opens <= now < end,
            created_at=doc["created_at"])

    def _schedule_out(self, doc: dict[str, Any], now: datetime,
                      cls: type[ScheduleOut] = ScheduleOut, **extra: Any) -> ScheduleOut:
        open_ = doc["status"] == "open"
        slots = sorted(doc.get("slots", []), key=lambda s: s["start"])
        slot_out = [SlotOut(id=slot_id(doc["_id"], s["seq"]), start=s["start"], end=s["end"],
                            label=time_label(s["start"], s["end"]), capacity=s["capacity"],
                            remaining=s["remaining"] if open_ and as_utc(s["start"]) > now else 0)
                    for s in slots]
        return cls(
            id=str(doc["_id"]), his_id=doc["his_id"], doctor_id=str(doc["doctor_id"]),
            doctor_name=doc.get("doctor_name", ""), doctor_title=doc.get("doctor_title", ""),
            department_id=str(doc["department_id"]), department_name=doc.get("department_name", ""),
            campus_code=doc.get("campus_code", ""), clinic_id=doc.get("clinic_id", ""),
            room=doc.get("room", ""), date=doc["date"], period=doc["period"],
            period_name=PERIOD_NAMES[doc["period"]], type=doc["type"],
            type_name=TYPE_NAMES[doc["type"]], fee_fen=doc["fee_fen"], status=doc["status"],
            release_at=doc["release_at"], released=as_utc(doc["release_at"]) <= now,
            remaining=sum(s.remaining for s in slot_out), slots=slot_out, **extra)
