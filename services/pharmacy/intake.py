"""Prescriptions in: from the HIS (idempotent by prescription number) and, for those the
patient pays online, released by billing's settlement (in either order)."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.actors import Actor
from services.errors import BusinessRuleViolation, Conflict, NotFound
from services.pharmacy import views
from services.pharmacy.keys import BILLING_ACTOR, field_of, state_key
from services.pharmacy.models import IntakeOut, PrescriptionIn, PrescriptionOut

if TYPE_CHECKING:
    from services.pharmacy.service import PharmacyService

log = logging.getLogger("palm.pharmacy")


class IntakeMixin:
    """Part of PharmacyService: prescriptions arriving and paid ones being released."""

    async def receive_prescription(self: "PharmacyService", actor: Actor, body: PrescriptionIn, *,
                                   source: str = "his", ip: str | None = None) -> IntakeOut:
        """Store a prescription from the HIS or a paid bill; a repeat of the same one is a no-op."""
        digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        existing = await self.prescriptions.find_one({"rx_no": body.rx_no})
        if existing is not None:
            return self._repeat(existing, digest)
        patient_id = await self._resolve_patient(body)
        now = self.clock.now()
        initial = "awaiting_payment" if body.payment_required else "received"
        first = {"n": 1, "stage": initial, "at": now, "by": actor.id or actor.kind,
                 "by_label": actor.label or source.upper(), "station": source}
        oid = ObjectId()
        doc: dict[str, Any] = {
            "_id": oid, "state": state_key(oid, initial, 2),
            "rx_no": body.rx_no, "source": source, "patient_id": patient_id,
            "patient_name": self.cipher.encrypt(body.patient_name, aad="patient_name"),
            "patient_masked": views.mask_for_storage(body.patient_name),
            "phone": self.cipher.encrypt(body.phone, aad="phone"),
            "card_index": self.cipher.blind_index(body.card_no, "card_no") if body.card_no else None,
            "herbs": [h.model_dump() for h in body.herbs], "doses": body.doses,
            "mode": body.mode, "delivery": body.delivery, "pickup_window": body.pickup_window,
            "address": self.cipher.encrypt(body.address, aad="address") if body.address else None,
            "doctor": body.doctor, "department": body.department,
            "stage": initial, "stage_entered_at": now, "step_n": 1, "next_n": 2,
            "history": [first], "undone": [], "courier": None, "tracking_no": None,
            "notices_pending": [1] if initial in self.config.notify_stages else [],
            "payload_hash": digest, "created_at": now, "updated_at": now,
        }
        try:
            await self.prescriptions.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.prescriptions.find_one({"rx_no": body.rx_no})
            if existing is None:
                raise
            return self._repeat(existing, digest)
        await self._audit(actor, "pharmacy.prescription_received", doc, ip, source=source)
        if doc["notices_pending"]:
            await self._send_notice(doc, first)
        if initial == "awaiting_payment":
            # billing may have settled the bill before the HIS sent the prescription
            marker = await self.releases.find_one({"rx_no": body.rx_no})
            if marker is not None:
                doc = await self._release(body.rx_no, marker) or doc
        return IntakeOut(created=True, prescription=self._out(doc))

    def _repeat(self: "PharmacyService", existing: Mapping[str, Any], digest: str) -> IntakeOut:
        if existing.get("payload_hash") != digest:
            raise Conflict("prescription_conflict", "该处方号已存在且内容不同，请核对后重试",
                           details={"rx_no": existing["rx_no"]})
        return IntakeOut(created=False, prescription=self._out(existing))

    async def _resolve_patient(self: "PharmacyService", body: PrescriptionIn) -> str | None:
        if self.identity is None:
            return body.patient_id
        if body.patient_id:
            try:
                record = await self.identity.get_patient(body.patient_id)
            except NotFound:
                raise BusinessRuleViolation("patient_unknown", "未找到该就诊人") from None
            return record.id
        if body.card_no:
            record = await self.identity.find_patient_by_card(body.card_no)
            return record.id if record is not None else None
        return None

    async def release_paid_prescription(self: "PharmacyService", bill: Any) -> PrescriptionOut | None:
        """Billing's settlement listener: a paid bill carrying `prescription_no` releases that
        prescription from 待缴费 into the pharmacy (idempotent; the bill may also be paid
        before the HIS sends the prescription, which then starts at 已收方)."""
        rx_no = field_of(bill, "prescription_no")
        if not rx_no:
            return None
        marker = {"rx_no": rx_no, "bill_id": str(field_of(bill, "id") or ""),
                  "patient_id": field_of(bill, "patient_id"), "paid_at": self.clock.now()}
        try:
            await self.releases.update_one({"rx_no": rx_no}, {"$setOnInsert": marker}, upsert=True)
        except DuplicateKeyError:
            pass  # a concurrent repeat of the same settlement wrote it
        doc = await self._release(rx_no, marker)
        return self._out(doc) if doc is not None else None

    async def _release(self: "PharmacyService", rx_no: str,
                       marker: Mapping[str, Any]) -> dict[str, Any] | None:
        """Move a 待缴费 prescription to 已收方 once (conditional on its stage and version)."""
        doc = await self.prescriptions.find_one({"rx_no": rx_no})
        if doc is None or doc["stage"] != "awaiting_payment":
            return doc
        if marker.get("patient_id") and doc.get("patient_id") and marker["patient_id"] != doc["patient_id"]:
            log.warning("bill %s pays prescription %s of another patient: not released",
                        marker.get("bill_id"), rx_no)
            await self._audit(BILLING_ACTOR, "pharmacy.release_refused", doc, None,
                              bill_id=marker.get("bill_id"))
            return doc
        now = self.clock.now()
        n = doc["next_n"]
        step = {"n": n, "stage": "received", "at": now, "by": BILLING_ACTOR.id,
                "by_label": BILLING_ACTOR.label, "station": f"bill {marker.get('bill_id', '')}".strip()}
        push: dict[str, Any] = {"history": step}
        if "received" in self.config.notify_stages:
            push["notices_pending"] = n
        updated = await self.prescriptions.find_one_and_update(
            {"state": state_key(doc["_id"], "awaiting_payment", n)},
            {"$set": {"stage": "received", "stage_entered_at": now, "step_n": n, "updated_at": now,
                      "state": state_key(doc["_id"], "received", n + 1),
                      "paid_bill_id": marker.get("bill_id")},
             "$inc": {"next_n": 1}, "$push": push},
            return_document=ReturnDocument.AFTER)
        if updated is None:  # released concurrently by the other path
            return await self.prescriptions.find_one({"rx_no": rx_no})
        await self._audit(BILLING_ACTOR, "pharmacy.released_after_payment", updated, None,
                          bill_id=marker.get("bill_id"))
        if "notices_pending" in push:
            await self._send_notice(updated, step)
        return updated
