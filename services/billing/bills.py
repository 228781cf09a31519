"""Bills: from the HIS and from registration; checked amounts; patients see their family's.

Collections (owned by billing):
    bills     {_id, source, source_ref, payload_hash, title, patient_id, account_id,
               patient_name (masked), visit{}, items[], total_fen, insurance{}, payable_fen,
               status, paid_fen, refundable_fen, refunded_fen, payment_id, out_trade_no,
               transaction_id, prescription_no, receipt_no, created_at, paid_at, expires_at,
               effects_pending, effects_done[], lease_owner, lease_until}
`(source, source_ref)` is unique: a HIS bill id or a registration appointment id is
accepted once; the same bill again returns the stored one, a different one is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.billing.models import (
    BillItemIn,
    BillOut,
    HisBillIn,
    InsuranceSplitIn,
    VisitIn,
    line_amount,
)
from services.catalogue import parse_object_id
from services.errors import BusinessRuleViolation, Conflict, NotFound


def bill_out(doc: dict[str, Any]) -> BillOut:
    return BillOut(
        id=str(doc["_id"]), source=doc["source"], source_ref=doc["source_ref"],
        title=doc["title"], patient_id=doc["patient_id"], patient_name=doc.get("patient_name", ""),
        visit=doc.get("visit") or {}, items=doc["items"], total_fen=doc["total_fen"],
        insurance=doc["insurance"], payable_fen=doc["payable_fen"], status=doc["status"],
        paid_fen=doc.get("paid_fen", 0), refunded_fen=doc.get("refunded_fen", 0),
        prescription_no=doc.get("prescription_no"), receipt_no=doc.get("receipt_no"),
        created_at=doc["created_at"], paid_at=doc.get("paid_at"), expires_at=doc.get("expires_at"))


def check_amounts(items: list[BillItemIn], total_fen: int, insurance: InsuranceSplitIn) -> None:
    """422 unless every line, the items' sum and the insurance split add up."""
    for index, item in enumerate(items):
        expected = line_amount(item.quantity, item.unit_price_fen)
        if expected != item.amount_fen:
            raise BusinessRuleViolation("item_amount_mismatch", "明细金额与数量×单价不符", details={
                "index": index, "name": item.name, "expected_fen": expected,
                "amount_fen": item.amount_fen})
    items_sum = sum(item.amount_fen for item in items)
    if items_sum != total_fen:
        raise BusinessRuleViolation("items_total_mismatch", "明细合计与总金额不符",
                                    details={"items_fen": items_sum, "total_fen": total_fen})
    split = insurance.pooled_fen + insurance.personal_account_fen + insurance.self_pay_fen
    if split != total_fen:
        raise BusinessRuleViolation("insurance_split_mismatch", "医保统筹、个人账户与自费之和与总金额不符",
                                    details={"split_fen": split, "total_fen": total_fen})


def _payload_hash(data: dict[str, Any]) -> str:
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class BillsMixin:
    """Creating, listing and reading bills (mixed into BillingService)."""

    async def _bill_indexes(self) -> None:
        await self.bills.create_index([("source", ASCENDING), ("source_ref", ASCENDING)],
                                      unique=True)
        await self.bills.create_index([("patient_id", ASCENDING), ("created_at", DESCENDING)])
        await self.bills.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await self.bills.create_index([("effects_pending", ASCENDING)])
        await self.bills.create_index([("expiry_pending", ASCENDING)])

    async def create_his_bill(self, body: HisBillIn, actor: Any = None) -> tuple[BillOut, bool]:
        """Accept a HIS bill once; returns (bill, created). Amounts are checked (422)."""
        patient = await self._his_patient(body.patient_id, body.hospital_card_no)
        if self.audit is not None and actor is not None:
            await self.audit.record(actor, "billing.his_bill", patient_id=patient.id,
                                    details={"his_bill_id": body.his_bill_id})
        return await self.create_bill(
            source="his", source_ref=body.his_bill_id, patient=patient, items=body.items,
            total_fen=body.total_fen, insurance=body.insurance, visit=body.visit,
            prescription_no=body.prescription_no, title=body.title or self.config.his_title)

    async def create_bill(self, *, source: str, source_ref: str, patient: Any,
                          items: Iterable[BillItemIn | dict[str, Any]], title: str,
                          total_fen: int | None = None,
                          insurance: InsuranceSplitIn | dict[str, Any] | None = None,
                          visit: VisitIn | dict[str, Any] | None = None,
                          prescription_no: str | None = None,
                          expires_at: datetime | None = None) -> tuple[BillOut, bool]:
        """A bill for `patient` (a PatientRecord or a patient id), idempotent by (source, source_ref).

        Registration calls this with source="registration", source_ref=<appointment id>,
        one 挂号 item and `expires_at` = the end of its hold; without `insurance` the whole
        total is self-pay. Returns (bill, created).
        """
        if isinstance(patient, str):
            patient = await self.identity.get_patient(patient)
        items = [i if isinstance(i, BillItemIn) else BillItemIn.model_validate(i) for i in items]
        total = sum(i.amount_fen for i in items) if total_fen is None else total_fen
        if insurance is None:
            insurance = InsuranceSplitIn(self_pay_fen=total)
        elif isinstance(insurance, dict):
            insurance = InsuranceSplitIn.model_validate(insurance)
        if isinstance(visit, dict):
            visit = VisitIn.model_validate(visit)
        check_amounts(items, total, insurance)
        canonical = {"patient_id": patient.id, "items": [i.model_dump() for i in items],
                     "total_fen": total, "insurance": insurance.model_dump(),
                     "visit": visit.model_dump() if visit else None,
                     "prescription_no": prescription_no, "title": title}
        digest = _payload_hash(canonical)
        existing = await self.bills.find_one({"source": source, "source_ref": source_ref})
        if existing is not None:
            return self._same_bill(existing, digest), False
        now = self.clock.now()
        payable = insurance.self_pay_fen
        doc = {
            "_id": ObjectId(), "source": source, "source_ref": source_ref, "payload_hash": digest,
            "title": title, "patient_id": patient.id, "account_id": patient.account_id,
            "patient_name": patient.masked_name,
            "visit": visit.model_dump() if visit else {},
            "items": [{**i.model_dump(), "quantity": _quantity(i.quantity)} for i in items],
            "total_fen": total, "insurance": insurance.model_dump(), "payable_fen": payable,
            "status": "unpaid", "paid_fen": 0, "refundable_fen": 0, "refunded_fen": 0,
            "prescription_no": prescription_no, "created_at": now, "expires_at": expires_at,
            "effects_done": [],
        }
        if payable == 0:   # fully covered by insurance: nothing to pay, settled at once
            doc.update(status="paid", paid_at=now, effects_pending=True)
        try:
            await self.bills.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.bills.find_one({"source": source, "source_ref": source_ref})
            return self._same_bill(existing, digest), False
        if payable == 0:
            self._spawn(self.run_effects(doc["_id"], doc))
        return bill_out(doc), True

    @staticmethod
    def _same_bill(existing: dict[str, Any], digest: str) -> BillOut:
        if existing.get("payload_hash") != digest:
            raise Conflict("bill_conflict", "该账单号已存在且内容不同",
                           details={"bill_id": str(existing["_id"])})
        return bill_out(existing)

    async def _his_patient(self, patient_id: str | None, card_no: str | None) -> Any:
        if not patient_id and not card_no:
            raise BusinessRuleViolation("patient_required", "请提供患者编号或就诊卡号")
        patient = None
        if patient_id:
            try:
                patient = await self.identity.get_patient(patient_id)
            except NotFound:
                patient = None
        elif card_no:
            patient = await self.identity.find_patient_by_card(card_no)
        if patient is None:
            raise BusinessRuleViolation("patient_unknown", "未找到该患者")
        return patient

    async def list_bills(self, account_id: str, patient_id: str | None = None,
                         status: str | None = None) -> list[BillOut]:
        """Bills of one family member, or of the whole family, newest first."""
        if patient_id:
            await self.identity.get_patient_for_account(account_id, patient_id)
            ids = [patient_id]
        else:
            ids = [p.id for p in await self.identity.list_patients(account_id)]
        query: dict[str, Any] = {"patient_id": {"$in": ids}}
        if status:
            query["status"] = status
        docs = await self.bills.find(query).sort([("created_at", DESCENDING)]).to_list(200)
        return [bill_out(d) for d in docs]

    async def bill_doc_for_account(self, account_id: str, bill_id: str) -> dict[str, Any]:
        """The raw bill if it belongs to this account's family; otherwise 404."""
        doc = await self.bills.find_one({"_id": parse_object_id(bill_id, "bill_not_found",
                                                                "未找到该账单")})
        if doc is None:
            raise NotFound("bill_not_found", "未找到该账单")
        try:
            await self.identity.get_patient_for_account(account_id, doc["patient_id"])
        except NotFound:
            raise NotFound("bill_not_found", "未找到该账单") from None
        return doc

    async def get_bill(self, account_id: str, bill_id: str) -> BillOut:
        """One bill of the caller's family (404 otherwise)."""
        return bill_out(await self.bill_doc_for_account(account_id, bill_id))

    async def bill_by_id(self, bill_id: str) -> BillOut:
        """Any bill by id (for other services: registration, decoction, kiosk)."""
        doc = await self.bills.find_one({"_id": parse_object_id(bill_id, "bill_not_found",
                                                                "未找到该账单")})
        if doc is None:
            raise NotFound("bill_not_found", "未找到该账单")
        return bill_out(doc)

    async def bill_for_staff(self, actor: Any, bill_id: str) -> BillOut:
        """Any bill for finance; the read is audited."""
        bill = await self.bill_by_id(bill_id)
        if self.audit is not None:
            await self.audit.record(actor, "billing.read_bill", patient_id=bill.patient_id,
                                    details={"bill_id": bill_id})
        return bill

    async def cancel_bill(self, bill_id: str) -> bool:
        """Withdraw an unpaid bill (e.g. a registration cancelled before paying)."""
        oid = parse_object_id(bill_id, "bill_not_found", "未找到该账单")
        result = await self.bills.update_one(
            {"_id": oid, "status": "unpaid"},
            {"$set": {"status": "cancelled", "cancelled_at": self.clock.now()}})
        if result.modified_count:   # the expiry job closes its open orders at the channel
            await self.payments.update_many({"bill_id": oid, "status": "pending"},
                                            {"$set": {"expires_at": self.clock.now()}})
        return bool(result.modified_count)


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")
