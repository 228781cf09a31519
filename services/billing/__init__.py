"""Billing and payment (诊间结算): bills, payment orders, settlement, refunds, reconciliation.

    bills.py       BillsMixin      HIS and registration bills, amount checks, family access
    payments.py    PaymentsMixin   pay, poll, settle exactly once, expiry
    refunds.py     RefundsMixin    guarded refunds, channel outcomes, notifications
    reconcile.py   ReconcileMixin  the daily trade-bill comparison
    this module    BillingService  assembly, callbacks, after-payment effects, receipts

After a bill is paid, effects run at least once each, with a per-bill marker per effect
(receipt, message, every listener): the settling request runs them at once under a
lease, and the `billing.effects` job retries any bill whose effects did not all finish.
Listeners register with `on_settled(source, callback)`: `source` is the bill's source
("registration", "his") or "prescription" for any bill carrying a prescription_no.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.actors import Actor
from services.billing.bills import BillsMixin, bill_out
from services.billing.models import BillingConfig, BillOut, FlagOut, ReceiptOut, yuan
from services.billing.payments import PaymentsMixin
from services.billing.reconcile import ReconcileMixin
from services.billing.refunds import RefundsMixin
from services.catalogue import parse_object_id
from services.clock import Clock, local
from services.errors import InvalidRequest, NotFound
from services.jobs import WORKER_ID, PeriodicTask, claim_one
from services.payment.gateway import PaymentGateway

log = logging.getLogger("palm.billing")

Listener = Callable[[BillOut], Awaitable[Any]]

SYSTEM_ACTOR = Actor(kind="device", id="wechatpay", roles=frozenset({"payment_channel"}),
                     label="支付渠道回调")


class BillingService(BillsMixin, PaymentsMixin, RefundsMixin, ReconcileMixin):
    """Bills, payments, refunds and reconciliation over one payment gateway."""

    system_actor = SYSTEM_ACTOR

    def __init__(self, db: AsyncDatabase, clock: Clock, gateway: PaymentGateway,
                 config: BillingConfig, *, identity: Any = None, notify: Any = None,
                 audit: Any = None, hospital_name: str = "掌上医院", signing_key: bytes = b""):
        self.bills = db["bills"]
        self.payments = db["payments"]
        self.refunds = db["refunds"]
        self.receipts = db["receipts"]
        self.flags = db["billing_flags"]
        self.reconciliations = db["reconciliations"]
        self.clock = clock
        self.gateway = gateway
        self.config = config
        self.identity = identity
        self.notify = notify
        self.audit = audit
        self.hospital_name = hospital_name
        self._signing_key = signing_key
        self._settled_listeners: dict[str, dict[str, Listener]] = {}
        self._expired_listeners: dict[str, dict[str, Listener]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def ensure_indexes(self) -> None:
        await self._bill_indexes()
        await self._payment_indexes()
        await self._refund_indexes()
        await self.receipts.create_index("bill_id", unique=True)
        await self.flags.create_index([("resolved", ASCENDING), ("created_at", ASCENDING)])
        await self.reconciliations.create_index([("date", ASCENDING)])
        if self.gateway.verifier is not None:
            await self.gateway.verifier.ensure_indexes()

    def background_tasks(self) -> list[PeriodicTask]:
        return [
            PeriodicTask("billing.expire_payments", self.expire_payments_once,
                         self.config.expiry_interval_seconds),
            PeriodicTask("billing.expire_bills", self.expire_bills_once,
                         self.config.expiry_interval_seconds),
            PeriodicTask("billing.effects", self.effects_once, 5.0),
            PeriodicTask("billing.check_refunds", self.check_refunds_once, 30.0),
            PeriodicTask("billing.reconcile", self.reconcile_daily_once,
                         self.config.reconcile_interval_seconds),
        ]

    # ---- listeners ----------------------------------------------------------------
    def on_settled(self, source: str, callback: Listener, name: str | None = None) -> None:
        """Call `callback(bill)` (at least once per bill) when a bill of `source` is paid.

        `source` is a bill source ("registration", "his") or "prescription" (any bill with
        a prescription_no). Callbacks must be idempotent: a crash may repeat one.
        """
        self._settled_listeners.setdefault(source, {})[name or callback.__qualname__] = callback

    def on_expired(self, source: str, callback: Listener, name: str | None = None) -> None:
        """Call `callback(bill)` when an unpaid bill of `source` passes its `expires_at`."""
        self._expired_listeners.setdefault(source, {})[name or callback.__qualname__] = callback

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("billing background step failed: %r", task.exception())

    async def _notify_listeners(self, bill: dict[str, Any],
                                registry: Mapping[str, Mapping[str, Listener]],
                                marker_field: str, pending_field: str,
                                also_set: dict[str, Any] | None = None) -> bool:
        topics = [bill["source"], "*"] + (["prescription"] if bill.get("prescription_no") else [])
        done = set(bill.get(marker_field) or [])
        ok = True
        out = bill_out({**bill, **(also_set or {})})
        for topic in topics:
            for name, callback in registry.get(topic, {}).items():
                marker = f"{topic}:{name}"
                if marker in done:
                    continue
                try:
                    await callback(out)
                except Exception:
                    log.exception("billing listener %s failed for bill %s", marker, bill["_id"])
                    ok = False
                    continue
                await self.bills.update_one({"_id": bill["_id"]},
                                            {"$addToSet": {marker_field: marker}})
        finished = {pending_field: False, "lease_until": None, "lease_owner": None} if ok else {}
        if finished or also_set:
            await self.bills.update_one({"_id": bill["_id"]},
                                        {"$set": {**(also_set or {}), **finished}})
        return ok

    # ---- after payment ------------------------------------------------------------
    async def run_effects(self, bill_id: ObjectId, bill: dict[str, Any] | None = None) -> bool:
        """Receipt, message and listeners of a paid bill; each at most once per marker."""
        if bill is None:
            bill = await self.bills.find_one({"_id": bill_id})
        if bill is None or not bill.get("effects_pending"):
            return True
        receipt_no = await self._issue_receipt(bill)
        await self._send(bill, "payment_succeeded", {
            "patient": bill.get("patient_name", ""), "amount": yuan(bill["paid_fen"]),
            "item": bill["title"]}, f"payment_succeeded:{bill['_id']}")
        return await self._notify_listeners(bill, self._settled_listeners, "effects_done",
                                            "effects_pending", also_set={"receipt_no": receipt_no})

    async def effects_once(self) -> int:
        """Retry effects of a paid bill whose earlier run did not finish (lease expired)."""
        doc = await claim_one(self.bills, self.clock, {"effects_pending": True},
                              timedelta(seconds=self.config.effects_lease_seconds))
        if doc is None:
            return 0
        await self.run_effects(doc["_id"], doc)
        return 1

    async def _send(self, bill: dict[str, Any], template: str, params: dict[str, str],
                    dedup_key: str) -> None:
        if self.notify is None or self.identity is None:
            return
        try:
            recipient = await self.identity.contact_for_patient(bill["patient_id"])
            await self.notify.send(template, recipient, template, params, dedup_key)
        except (NotFound, InvalidRequest) as error:
            # nobody to tell (member removed, no phone or openid): never block the other effects
            log.warning("no %s message for bill %s: %s", template, bill["_id"], error.code)

    async def _issue_receipt(self, bill: dict[str, Any]) -> str:
        """Insert the bill's receipt once (unique by bill); returns its number."""
        if bill.get("receipt_no"):
            return bill["receipt_no"]
        now = self.clock.now()
        receipt_no = "PJ" + local(now).strftime("%Y%m%d") + str(bill["_id"])[-10:].upper()
        check = hashlib.sha256(self._signing_key + receipt_no.encode()).hexdigest()[:12].upper()
        doc = {"_id": ObjectId(), "bill_id": bill["_id"], "receipt_no": receipt_no,
               "hospital": self.hospital_name, "patient_id": bill["patient_id"],
               "patient_name": bill.get("patient_name", ""), "title": bill["title"],
               "items": bill["items"], "total_fen": bill["total_fen"],
               "insurance": bill["insurance"], "paid_fen": bill.get("paid_fen", 0),
               "channel": bill.get("channel", ""), "transaction_id": bill.get("transaction_id", ""),
               "paid_at": bill.get("paid_at") or now, "issued_at": now, "check_code": check}
        try:
            await self.receipts.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.receipts.find_one({"bill_id": bill["_id"]}, {"receipt_no": 1})
            receipt_no = existing["receipt_no"]
        return receipt_no

    async def receipt_for_bill(self, bill_id: str, account_id: str | None = None) -> ReceiptOut:
        """The 电子票据 of a paid bill (the caller's family, or any when account_id is None)."""
        if account_id is not None:
            await self.bill_doc_for_account(account_id, bill_id)
        doc = await self.receipts.find_one(
            {"bill_id": parse_object_id(bill_id, "receipt_not_found", "未找到电子票据")})
        if doc is None:
            raise NotFound("receipt_not_found", "该账单尚未开具电子票据")
        return ReceiptOut(bill_id=str(doc["bill_id"]),
                          **{k: v for k, v in doc.items() if k not in ("_id", "bill_id")})

    async def receipt_for_device(self, actor: Actor, bill_id: str) -> ReceiptOut:
        """The receipt for a kiosk to print; the read is audited."""
        receipt = await self.receipt_for_bill(bill_id)
        if self.audit is not None:
            doc = await self.receipts.find_one({"receipt_no": receipt.receipt_no}, {"patient_id": 1})
            await self.audit.record(actor, "billing.print_receipt", patient_id=doc["patient_id"],
                                    details={"bill_id": bill_id, "receipt_no": receipt.receipt_no})
        return receipt

    # ---- callbacks ----------------------------------------------------------------
    async def handle_callback(self, kind: str, headers: Mapping[str, str], body: bytes) -> str:
        """Verify a WeChat Pay notification (401 when anything is off), then act on it."""
        verified = await self.gateway.verifier.verify(headers, body)
        if kind == "transactions":
            if not verified.event_type.startswith("TRANSACTION."):
                return "ignored"
            return await self.handle_transaction_callback(verified.channel, verified.resource)
        if not verified.event_type.startswith("REFUND."):
            return "ignored"
        return await self.handle_refund_callback(verified.channel, verified.resource)

    async def list_flags(self, resolved: bool = False) -> list[FlagOut]:
        """Problems waiting for finance (mismatched, duplicate or unknown payments)."""
        docs = await self.flags.find({"resolved": resolved}).sort(
            [("created_at", ASCENDING)]).to_list(500)
        return [FlagOut(id=d["_id"], kind=d["kind"], out_trade_no=d.get("out_trade_no"),
                        bill_id=d.get("bill_id"), details=d.get("details", {}),
                        created_at=d["created_at"]) for d in docs]

    async def payment_counts(self) -> dict[str, int]:
        """Counts by payment status (metrics, tests)."""
        counts: dict[str, int] = {}
        async for d in self.payments.find({}, {"status": 1}):
            counts[d["status"]] = counts.get(d["status"], 0) + 1
        return counts


__all__ = ["WORKER_ID", "BillingConfig", "BillingService"]
