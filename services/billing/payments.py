"""Paying a bill: payment orders, settlement (atomic, exactly once), expiry.

Collection `payments` {_id, out_trade_no (unique), bill_id, channel, amount_fen,
description, status pending|paid|closed|failed, prepay_id, created_at, expires_at,
paid_at, transaction_id, success_time, lease_owner, lease_until}.

Settlement is one conditional update of the bill (`status: "unpaid"` → `"paid"` with this
payment's id): whichever of the callbacks, polls and expiry checks gets there first wins;
the others find the bill already paid by this payment and do nothing. A payment whose
money arrives for a bill that is already paid (two tabs), expired or cancelled is flagged
and refunded automatically. A transaction whose merchant, appid or amount differs from
our order is never settled: it is flagged for finance and audited.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.billing.models import PaymentOut, PayOut
from services.catalogue import parse_object_id
from services.clock import local
from services.errors import (
    BusinessRuleViolation,
    Conflict,
    DependencyUnavailable,
    NotFound,
)
from services.jobs import WORKER_ID, claim_one
from services.payment.client import ChannelRejected
from services.payment.gateway import PaymentChannel

log = logging.getLogger("palm.billing")


def payment_out(doc: dict[str, Any], bill_status: str | None = None) -> PaymentOut:
    return PaymentOut(id=str(doc["_id"]), bill_id=str(doc["bill_id"]),
                      out_trade_no=doc["out_trade_no"], channel=doc["channel"],
                      amount_fen=doc["amount_fen"], description=doc["description"],
                      status=doc["status"], bill_status=bill_status,
                      created_at=doc["created_at"], expires_at=doc["expires_at"],
                      paid_at=doc.get("paid_at"))


def new_out_trade_no(now: datetime) -> str:
    """PH + yyyymmddHHMMSS (Shanghai) + 12 hex: 28 characters, unique per merchant."""
    return "PH" + local(now).strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


class PaymentsMixin:
    """Payment orders and settlement (mixed into BillingService)."""

    async def _payment_indexes(self) -> None:
        await self.payments.create_index("out_trade_no", unique=True)
        await self.payments.create_index([("bill_id", ASCENDING), ("status", ASCENDING)])
        await self.payments.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])
        await self.payments.create_index([("channel", ASCENDING), ("success_time", ASCENDING)])

    # ---- starting a payment --------------------------------------------------------
    async def pay(self, account_id: str, bill_id: str, channel_name: str | None) -> PayOut:
        """Create (or reuse) a payment order for an unpaid bill; amount from the bill."""
        bill = await self.bill_doc_for_account(account_id, bill_id)
        now = self.clock.now()
        if bill["status"] == "paid":
            raise Conflict("bill_already_paid", "该账单已支付")
        if bill["status"] != "unpaid":
            raise Conflict("bill_not_payable", "该账单当前不可支付", details={"status": bill["status"]})
        if bill.get("expires_at") and bill["expires_at"] <= now:
            raise BusinessRuleViolation("bill_expired", "该账单已过期，请重新预约或联系窗口")
        channel = self.gateway.get(channel_name or self.config.default_channel)
        reusable = await self.payments.find_one({
            "bill_id": bill["_id"], "channel": channel.name, "status": "pending",
            "prepay_id": {"$ne": None}, "expires_at": {"$gt": now + timedelta(minutes=1)}})
        if reusable is not None:
            return self._pay_out(reusable, channel, bill)
        openid = await self._payer_openid(bill, channel)
        expires = now + timedelta(minutes=self.config.payment_expiry_minutes)
        if bill.get("expires_at"):
            expires = min(expires, bill["expires_at"])
        doc = {"_id": ObjectId(), "out_trade_no": new_out_trade_no(now), "bill_id": bill["_id"],
               "channel": channel.name, "amount_fen": bill["payable_fen"],
               "description": f"{self.hospital_name}-{bill['title']}"[:127], "status": "pending",
               "prepay_id": None, "created_at": now, "expires_at": expires}
        await self.payments.insert_one(doc)
        try:
            prepay_id = await channel.client.jsapi_order(
                out_trade_no=doc["out_trade_no"], description=doc["description"],
                amount_fen=doc["amount_fen"], openid=openid,
                notify_url=self.gateway.notify_url("transactions"), attach=str(bill["_id"]),
                time_expire=local(expires).isoformat(timespec="seconds"))
        except ChannelRejected:
            await self.payments.update_one({"_id": doc["_id"], "status": "pending"},
                                           {"$set": {"status": "failed"}})
            raise
        # DependencyUnavailable leaves it pending: the order may exist; expiry closes it
        await self.payments.update_one({"_id": doc["_id"]}, {"$set": {"prepay_id": prepay_id}})
        doc["prepay_id"] = prepay_id
        return self._pay_out(doc, channel, bill)

    def _pay_out(self, doc: dict[str, Any], channel: PaymentChannel,
                 bill: dict[str, Any]) -> PayOut:
        cashier = None
        if channel.cashier_base:
            cashier = (f"{channel.cashier_base}/{doc['prepay_id']}"
                       f"?return=/h5/payments/{doc['_id']}")
        return PayOut(**payment_out(doc, bill["status"]).model_dump(),
                      jsapi=channel.client.jsapi_pay_params(doc["prepay_id"]), cashier_url=cashier)

    async def _payer_openid(self, bill: dict[str, Any], channel: PaymentChannel) -> str:
        contact = None
        try:
            contact = await self.identity.contact_for_patient(bill["patient_id"])
        except NotFound:
            pass
        openid = getattr(contact, "openid", None)
        if openid:
            return openid
        if channel.cashier_base:   # the sandbox has no WeChat users: a stable stand-in
            return "o_sandbox_" + str(bill.get("account_id", ""))[-12:]
        raise BusinessRuleViolation("wechat_openid_required", "请在微信中打开后再支付")

    # ---- reading a payment (the result page polls this) ---------------------------
    async def get_payment(self, account_id: str, payment_id: str) -> PaymentOut:
        """A payment of the caller's family; asks the channel when still pending."""
        doc = await self.payments.find_one(
            {"_id": parse_object_id(payment_id, "payment_not_found", "未找到该支付单")})
        if doc is None:
            raise NotFound("payment_not_found", "未找到该支付单")
        try:
            bill = await self.bill_doc_for_account(account_id, str(doc["bill_id"]))
        except NotFound:
            raise NotFound("payment_not_found", "未找到该支付单") from None
        if doc["status"] == "pending" and doc.get("prepay_id"):
            try:
                await self.check_with_channel(doc)
            except DependencyUnavailable:
                pass   # still unknown: the page keeps polling
            doc = await self.payments.find_one({"_id": doc["_id"]})
            bill = await self.bills.find_one({"_id": bill["_id"]})
        return payment_out(doc, bill["status"])

    async def check_with_channel(self, doc: dict[str, Any]) -> str:
        """Ask the channel about a pending order and act on the answer."""
        channel = self.gateway.get(doc["channel"])
        try:
            tx = await channel.client.query_order(doc["out_trade_no"])
        except ChannelRejected as error:
            if error.channel_code == "ORDER_NOT_EXIST":
                return "NOTPAY"
            raise
        state = tx.get("trade_state", "")
        if state in ("SUCCESS", "REFUND"):
            await self.settle(doc, tx, channel.name, via="query")
        elif state in ("CLOSED", "REVOKED", "PAYERROR"):
            await self.payments.update_one({"_id": doc["_id"], "status": "pending"}, {"$set": {
                "status": "closed" if state != "PAYERROR" else "failed",
                "channel_state": state}})
        return state

    # ---- settlement ---------------------------------------------------------------
    async def settle(self, payment: dict[str, Any], tx: dict[str, Any], channel_name: str,
                     via: str) -> str:
        """Apply a successful Transaction: settled | already | flagged | duplicate | ignored."""
        channel = self.gateway.get(payment["channel"])
        problems = {}
        if channel_name != payment["channel"]:
            problems["channel"] = {"ours": payment["channel"], "theirs": channel_name}
        if tx.get("mchid") != channel.creds.mchid:
            problems["mchid"] = {"ours": channel.creds.mchid, "theirs": tx.get("mchid")}
        if tx.get("appid") != channel.creds.appid:
            problems["appid"] = {"ours": channel.creds.appid, "theirs": tx.get("appid")}
        total = (tx.get("amount") or {}).get("total")
        if total != payment["amount_fen"]:
            problems["amount"] = {"ours": payment["amount_fen"], "theirs": total}
        if problems:
            await self.flag("transaction_mismatch", payment, problems, via=via)
            return "flagged"
        if tx.get("trade_state") not in ("SUCCESS", "REFUND"):
            return "ignored"
        now = self.clock.now()
        success_time = _parse_time(tx.get("success_time")) or now
        await self.payments.update_one({"_id": payment["_id"], "status": {"$ne": "paid"}}, {"$set": {
            "status": "paid", "paid_at": now, "transaction_id": tx.get("transaction_id", ""),
            "success_time": success_time, "settled_via": via}})
        bill = await self.bills.find_one_and_update(
            {"_id": payment["bill_id"], "status": "unpaid"},
            {"$set": {"status": "paid", "paid_fen": payment["amount_fen"],
                      "refundable_fen": payment["amount_fen"], "payment_id": payment["_id"],
                      "out_trade_no": payment["out_trade_no"], "channel": payment["channel"],
                      "transaction_id": tx.get("transaction_id", ""), "paid_at": now,
                      "effects_pending": True, "lease_owner": WORKER_ID,
                      "lease_until": now + timedelta(seconds=self.config.effects_lease_seconds)}},
            return_document=ReturnDocument.AFTER)
        if bill is not None:
            log.info("bill %s paid via %s (%s)", bill["_id"], payment["out_trade_no"], via)
            self._spawn(self.run_effects(bill["_id"], bill))
            return "settled"
        current = await self.bills.find_one({"_id": payment["bill_id"]}, {"payment_id": 1,
                                                                          "status": 1})
        if current is not None and current.get("payment_id") == payment["_id"]:
            # The same order again is normal (retries) — unless the channel names ANOTHER
            # transaction: that may be a second charge of the payer (issue 22 finding k).
            known, offered = payment.get("transaction_id"), tx.get("transaction_id")
            if known and offered and offered != known:
                await self.flag("second_transaction", payment, {
                    "transaction_id": known, "other_transaction_id": offered,
                    "amount_fen": total}, via=via)
                return "flagged"
            return "already"
        # money arrived for a bill paid by another order, expired or cancelled: give it back
        await self.flag("duplicate_payment", payment, {
            "bill_status": (current or {}).get("status"),
            "paid_by": str((current or {}).get("payment_id"))}, via=via)
        await self.refund_payment_in_full(payment, "重复支付或账单已失效，自动退款")
        return "duplicate"

    async def handle_transaction_callback(self, channel_name: str, tx: dict[str, Any]) -> str:
        """A verified TRANSACTION.* notification: settle the order it names."""
        payment = await self.payments.find_one({"out_trade_no": tx.get("out_trade_no", "")})
        if payment is None:
            await self.flag("unknown_order", {"out_trade_no": tx.get("out_trade_no")},
                            {"channel": channel_name, "mchid": tx.get("mchid")}, via="callback")
            return "unknown"
        return await self.settle(payment, tx, channel_name, via="callback")

    # ---- expiry -------------------------------------------------------------------
    async def expire_payments_once(self) -> int:
        """Close one expired pending order at the channel (or settle it if it was paid)."""
        now = self.clock.now()
        doc = await claim_one(self.payments, self.clock,
                              {"status": "pending", "expires_at": {"$lte": now}},
                              timedelta(seconds=60))
        if doc is None:
            return 0
        try:
            state = await self.check_with_channel(doc) if doc.get("prepay_id") else "NOTPAY"
            if state not in ("SUCCESS", "REFUND", "CLOSED", "REVOKED", "PAYERROR"):
                await self._close_at_channel(doc)
                await self.payments.update_one({"_id": doc["_id"], "status": "pending"},
                                               {"$set": {"status": "closed", "closed_at": now}})
        except DependencyUnavailable:
            log.info("expiry of %s postponed: channel unavailable", doc["out_trade_no"])
        return 1

    async def _close_at_channel(self, doc: dict[str, Any]) -> None:
        channel = self.gateway.get(doc["channel"])
        try:
            await channel.client.close_order(doc["out_trade_no"])
        except ChannelRejected as error:
            if error.channel_code == "ORDERPAID":   # paid meanwhile: settle instead
                await self.check_with_channel(doc)
                return
            if error.channel_code not in ("ORDER_NOT_EXIST", "ORDER_CLOSED"):
                raise

    async def expire_bills_once(self) -> int:
        """An unpaid bill past its hold (registration) expires; listeners are told once."""
        now = self.clock.now()
        doc = await self.bills.find_one_and_update(
            {"status": "unpaid", "expires_at": {"$ne": None, "$lte": now}},
            {"$set": {"status": "expired", "expired_at": now, "expiry_pending": True}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            doc = await claim_one(self.bills, self.clock, {"expiry_pending": True},
                                  timedelta(seconds=self.config.effects_lease_seconds))
            if doc is None:
                return 0
        await self.payments.update_many({"bill_id": doc["_id"], "status": "pending"},
                                        {"$set": {"expires_at": now}})
        await self._notify_listeners(doc, self._expired_listeners, "expired_done", "expiry_pending")
        return 1

    async def flag(self, kind: str, payment: dict[str, Any], details: dict[str, Any],
                   via: str) -> None:
        """Record a problem for finance (once per kind and order) and audit it."""
        ref = payment.get("out_trade_no") or str(payment.get("_id"))
        doc = {"_id": f"{kind}:{ref}", "kind": kind, "out_trade_no": payment.get("out_trade_no"),
               "bill_id": str(payment["bill_id"]) if payment.get("bill_id") else None,
               "details": {**details, "via": via}, "created_at": self.clock.now(),
               "resolved": False}
        try:
            await self.flags.insert_one(doc)
        except DuplicateKeyError:
            return
        log.warning("billing flag %s on %s", kind, ref)
        if self.audit is not None:
            bill = await self.bills.find_one({"_id": payment.get("bill_id")}, {"patient_id": 1}) \
                if payment.get("bill_id") else None
            await self.audit.record(self.system_actor, f"billing.flag.{kind}",
                                    patient_id=(bill or {}).get("patient_id"),
                                    details={"out_trade_no": ref, **details})


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
