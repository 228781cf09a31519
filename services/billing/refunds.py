"""Refunds: full and partial, by finance or automatically; never more than was paid.

Collection `refunds` {_id, out_refund_no (unique), bill_id, payment_id, out_trade_no,
channel, amount_fen, total_fen, reason, requested_by, kind (bill|duplicate), status
processing|success|closed|abnormal|failed, created_at, succeeded_at}; the bill lists the
refunds already applied to it in `settled_refunds`.

The guard is one conditional `$inc` on the bill: `refundable_fen >= amount` →
`refundable_fen -= amount`, so concurrent requests can never reserve more than was paid.
A refund the channel finally refuses (CLOSED, or a 4xx) gives its reservation back; a
successful one adds to `refunded_fen`, and the bill becomes partially_refunded or refunded.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument

from services.actors import Actor
from services.billing.models import RefundOut, yuan
from services.catalogue import parse_object_id
from services.clock import local
from services.errors import (
    BusinessRuleViolation,
    Conflict,
    DependencyUnavailable,
    NotFound,
)
from services.jobs import claim_one
from services.payment.client import ChannelRejected

log = logging.getLogger("palm.billing")


def refund_out(doc: dict[str, Any]) -> RefundOut:
    return RefundOut(id=str(doc["_id"]), bill_id=str(doc["bill_id"]),
                     out_refund_no=doc["out_refund_no"], amount_fen=doc["amount_fen"],
                     reason=doc["reason"], status=doc["status"], created_at=doc["created_at"],
                     succeeded_at=doc.get("succeeded_at"))


def _requester(requested_by: Actor | str) -> str:
    if isinstance(requested_by, Actor):
        return f"{requested_by.kind}:{requested_by.id}"
    return str(requested_by)


class RefundsMixin:
    """Refund requests, channel results, notifications (mixed into BillingService)."""

    async def _refund_indexes(self) -> None:
        await self.refunds.create_index("out_refund_no", unique=True)
        await self.refunds.create_index([("bill_id", ASCENDING), ("created_at", ASCENDING)])
        await self.refunds.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        await self.refunds.create_index([("channel", ASCENDING), ("created_at", ASCENDING)])

    async def refund(self, bill_id: str, amount_fen: int, reason: str,
                     requested_by: Actor | str) -> RefundOut:
        """Refund part or all of a paid bill (finance, or registration's automatic refunds)."""
        oid = parse_object_id(bill_id, "bill_not_found", "未找到该账单")
        bill = await self.bills.find_one({"_id": oid})
        if bill is None:
            raise NotFound("bill_not_found", "未找到该账单")
        if bill["status"] not in ("paid", "partially_refunded") or not bill.get("payment_id"):
            raise Conflict("bill_not_refundable", "该账单当前不可退款", details={"status": bill["status"]})
        if amount_fen <= 0:
            raise BusinessRuleViolation("refund_amount_invalid", "退款金额应大于零")
        reserved = await self.bills.find_one_and_update(
            {"_id": oid, "refundable_fen": {"$gte": amount_fen}},
            {"$inc": {"refundable_fen": -amount_fen}}, return_document=ReturnDocument.AFTER)
        if reserved is None:
            current = await self.bills.find_one({"_id": oid}, {"refundable_fen": 1})
            raise BusinessRuleViolation("refund_exceeds_paid", "退款金额超过可退金额", details={
                "refundable_fen": (current or {}).get("refundable_fen", 0)})
        payment = await self.payments.find_one({"_id": bill["payment_id"]})
        doc = await self._start_refund(payment, amount_fen, reason, _requester(requested_by), "bill")
        if self.audit is not None and isinstance(requested_by, Actor):
            await self.audit.record(requested_by, "billing.refund", patient_id=bill["patient_id"],
                                    details={"bill_id": bill_id, "amount_fen": amount_fen,
                                             "out_refund_no": doc["out_refund_no"]})
        return refund_out(doc)

    async def refund_payment_in_full(self, payment: dict[str, Any], reason: str) -> None:
        """Give back a payment that must not count (paid twice, or for an expired bill)."""
        existing = await self.refunds.find_one({"payment_id": payment["_id"], "kind": "duplicate"})
        if existing is None:
            try:
                await self._start_refund(payment, payment["amount_fen"], reason, "system",
                                         "duplicate", out_refund_no="RD" + payment["out_trade_no"][2:])
            except (ChannelRejected, DependencyUnavailable) as error:
                log.warning("automatic refund of %s failed: %s", payment["out_trade_no"], error)

    async def _start_refund(self, payment: dict[str, Any], amount_fen: int, reason: str,
                            requested_by: str, kind: str,
                            out_refund_no: str | None = None) -> dict[str, Any]:
        now = self.clock.now()
        doc = {"_id": ObjectId(), "out_refund_no": out_refund_no or (
                   "RF" + local(now).strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()),
               "bill_id": payment["bill_id"], "payment_id": payment["_id"],
               "out_trade_no": payment["out_trade_no"], "channel": payment["channel"],
               "amount_fen": amount_fen, "total_fen": payment["amount_fen"], "reason": reason,
               "requested_by": requested_by, "kind": kind, "status": "processing",
               "created_at": now}
        await self.refunds.insert_one(doc)
        channel = self.gateway.get(payment["channel"])
        try:
            result = await channel.client.refund(
                out_trade_no=payment["out_trade_no"], out_refund_no=doc["out_refund_no"],
                refund_fen=amount_fen, total_fen=payment["amount_fen"], reason=reason,
                notify_url=self.gateway.notify_url("refunds"))
        except ChannelRejected:
            await self._finish_refund(doc["_id"], "failed")
            raise
        except DependencyUnavailable:
            return doc   # unknown outcome: the refund check job asks the channel later
        await self.apply_refund_status(doc["out_refund_no"], result.get("status", "PROCESSING"))
        return await self.refunds.find_one({"_id": doc["_id"]})

    async def apply_refund_status(self, out_refund_no: str, status: str) -> None:
        """Move a processing refund to its channel outcome, once."""
        refund = await self.refunds.find_one({"out_refund_no": out_refund_no})
        if refund is None:
            return
        if status == "SUCCESS":
            await self._finish_refund(refund["_id"], "success")
        elif status == "CLOSED":
            await self._finish_refund(refund["_id"], "closed")
        elif status == "ABNORMAL":
            done = await self.refunds.find_one_and_update(
                {"_id": refund["_id"], "status": "processing"}, {"$set": {"status": "abnormal"}})
            if done is not None:
                await self.flag("refund_abnormal", {"out_trade_no": refund["out_refund_no"],
                                                    "bill_id": refund["bill_id"]},
                                {"amount_fen": refund["amount_fen"]}, via="refund")

    async def _finish_refund(self, refund_id: ObjectId, outcome: str) -> None:
        """The channel's final word on a refund. The bill is changed first, once per refund
        (`settled_refunds` guards it), then the refund's status: a crash in between leaves
        the refund `processing`, so the next callback or status check finishes it without
        counting the money twice, and nobody sees a successful refund on an unchanged bill."""
        refund = await self.refunds.find_one({"_id": refund_id, "status": "processing"})
        if refund is None:
            return
        bill = await self._settle_on_bill(refund, outcome) if refund["kind"] == "bill" else None
        now = self.clock.now()
        done = await self.refunds.find_one_and_update(
            {"_id": refund_id, "status": "processing"},
            {"$set": {"status": outcome, **({"succeeded_at": now} if outcome == "success" else {})}},
            return_document=ReturnDocument.AFTER)
        if done is None or bill is None or outcome != "success":
            return
        await self._send(bill, "payment_refunded", {
            "patient": bill.get("patient_name", ""), "amount": yuan(done["amount_fen"]),
            "item": bill["title"]}, f"payment_refunded:{done['out_refund_no']}")

    async def _settle_on_bill(self, refund: dict[str, Any], outcome: str) -> dict[str, Any] | None:
        """Apply a finished refund to its bill exactly once: success adds to `refunded_fen`
        (and the bill becomes partially_refunded or refunded); anything else gives the
        reservation back to `refundable_fen` (the money stays with the hospital)."""
        once = {"_id": refund["bill_id"], "settled_refunds": {"$ne": refund["_id"]}}
        field = "refunded_fen" if outcome == "success" else "refundable_fen"
        bill = await self.bills.find_one_and_update(
            once, {"$inc": {field: refund["amount_fen"]}, "$push": {"settled_refunds": refund["_id"]}},
            return_document=ReturnDocument.AFTER)
        if bill is None:     # applied by an earlier, interrupted attempt
            bill = await self.bills.find_one({"_id": refund["bill_id"]})
        if bill is None or outcome != "success":
            return bill
        # refunded_fen only grows, so these two conditional updates converge on the truth
        result = await self.bills.update_one(
            {"_id": bill["_id"], "refunded_fen": bill["paid_fen"]}, {"$set": {"status": "refunded"}})
        if not result.modified_count:
            await self.bills.update_one(
                {"_id": bill["_id"], "status": "paid", "refunded_fen": {"$lt": bill["paid_fen"]}},
                {"$set": {"status": "partially_refunded"}})
        return bill     # for the message: patient and title, which a refund does not change

    async def list_refunds(self, bill_id: str) -> list[RefundOut]:
        """Refunds of a bill, oldest first (staff)."""
        oid = parse_object_id(bill_id, "bill_not_found", "未找到该账单")
        docs = await self.refunds.find({"bill_id": oid}).sort([("created_at", ASCENDING)]).to_list()
        return [refund_out(d) for d in docs]

    async def handle_refund_callback(self, channel_name: str, resource: dict[str, Any]) -> str:
        """A verified REFUND.* notification."""
        refund = await self.refunds.find_one({"out_refund_no": resource.get("out_refund_no", "")})
        channel = self.gateway.get(channel_name)
        if refund is None or resource.get("mchid") != channel.creds.mchid:
            await self.flag("refund_callback_mismatch",
                            {"out_trade_no": resource.get("out_refund_no"),
                             "bill_id": (refund or {}).get("bill_id")},
                            {"mchid": resource.get("mchid"), "channel": channel_name}, via="callback")
            return "flagged"
        await self.apply_refund_status(refund["out_refund_no"], resource.get("refund_status", ""))
        return "applied"

    async def check_refunds_once(self) -> int:
        """Ask the channel about one refund still processing after a while."""
        before = self.clock.now() - timedelta(seconds=self.config.refund_check_after_seconds)
        doc = await claim_one(self.refunds, self.clock,
                              {"status": "processing", "created_at": {"$lte": before}},
                              timedelta(seconds=120))
        if doc is None:
            return 0
        channel = self.gateway.get(doc["channel"])
        try:
            result = await channel.client.query_refund(doc["out_refund_no"])
        except ChannelRejected as error:
            if error.channel_code == "RESOURCE_NOT_EXISTS":   # never reached the channel
                await self._finish_refund(doc["_id"], "failed")
            return 1
        except DependencyUnavailable:
            return 1
        await self.apply_refund_status(doc["out_refund_no"], result.get("status", ""))
        return 1
