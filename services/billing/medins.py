"""医保 mobile payment (移动医保支付): one order paying a bill by insurance and cash together.

Collection `medins_orders` {_id, out_trade_no (unique; also the 6201 medOrgOrd), bill_id,
account_id, status, order_type, mix_pay_type, total_fen, fund_fen, account_fen, cash_fen,
pay_ord_id, pay_token, mix_trade_no, created_at, expires_at, insurance_deadline,
lease_owner, lease_until, paid_at, reversal_reason}.

    uploading ──6201──▶ uploaded ──/v3/med-ins/orders──▶ ordered ──▶ paid
        │                  │                               │
        └──────────────────┴──────────▶ failed             └──▶ reversing ──▶ reversed

Every transition is one update filtered on the current status, so of twenty racing notices,
polls and recovery rounds exactly one settles the bill (itself a conditional `unpaid → paid`
update) and exactly one starts a reversal. Amounts are integer fen here; yuan strings exist
only inside medins_center.py. The insurance platform's 6301 amounts are trusted only at
statuses 3–6. When the insurance leg has not settled by `insurance_deadline` (a timeout, a
hang, or our own crash mid-way) the order is reversed: 6401 on the platform and the cash
leg refunded through WeChat — never left half-paid. A `reversing` order whose steps failed
is finished by `recover_once` (both steps are idempotent).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument

from services.catalogue import parse_object_id
from services.clock import local
from services.errors import BusinessRuleViolation, Conflict, DependencyUnavailable, NotFound
from services.jobs import WORKER_ID, claim_one
from services.payment.client import ChannelRejected, WechatPayClient
from services.payment.medins_center import (
    CANCELLED_STATUSES,
    FAILED_STATUSES,
    SETTLED_STATUSES,
    MedInsCenterClient,
    MedInsRejected,
)
from services.payment.medins_wechat import WechatMedInsClient

log = logging.getLogger("palm.medins")

TRANSITIONS = {
    "uploading": {"uploaded", "failed", "reversing"},
    "uploaded": {"ordered", "failed", "reversing"},
    "ordered": {"paid", "reversing"},
    "reversing": {"reversed"},
    "paid": set(),
    "failed": set(),
    "reversed": set(),
}
OPEN_STATUSES = ("uploading", "uploaded", "ordered", "reversing")


@dataclass
class MedInsConfig:
    order_expiry_minutes: int = 15
    insurance_timeout_seconds: int = 120     # the insurance leg must settle within this
    lease_seconds: int = 30


def order_out(doc: dict[str, Any]) -> dict[str, Any]:
    """What the patient's page shows of a 医保 order (amounts in fen)."""
    return {"id": str(doc["_id"]), "bill_id": str(doc["bill_id"]), "status": doc["status"],
            "out_trade_no": doc["out_trade_no"], "mix_pay_type": doc["mix_pay_type"],
            "total_fen": doc["total_fen"], "fund_fen": doc["fund_fen"],
            "account_fen": doc["account_fen"], "cash_fen": doc["cash_fen"],
            "mix_trade_no": doc.get("mix_trade_no"), "paid_at": doc.get("paid_at")}


def mix_pay_type(cash_fen: int, insurance_fen: int) -> str:
    if insurance_fen == 0:
        return "CASH_ONLY"
    return "INSURANCE_ONLY" if cash_fen == 0 else "CASH_AND_INSURANCE"


class MedInsPayments:
    """Paying a bill with 医保 + 自费; composed with BillingService (bills, flags, effects)."""

    def __init__(self, billing: Any, center: MedInsCenterClient, mix: WechatMedInsClient,
                 wechat: WechatPayClient, config: MedInsConfig | None = None, *,
                 channel_name: str = "medins", wechat_channel: str = "sandbox"):
        """`mix` places mixed orders; `wechat` (the merchant's APIv3 client) refunds cash."""
        self.billing = billing
        self.orders = billing.bills.database["medins_orders"]
        self.refund_records = billing.bills.database["medins_refunds"]
        self.clock = billing.clock
        self.center = center
        self.wechat = wechat
        self.mix = mix
        self.config = config or MedInsConfig()
        self.channel_name = channel_name
        self.wechat_channel = wechat_channel      # the APIv3 channel `wechat` belongs to

    async def ensure_indexes(self) -> None:
        await self.orders.create_index("out_trade_no", unique=True)
        await self.orders.create_index([("bill_id", ASCENDING), ("status", ASCENDING)])
        await self.orders.create_index([("status", ASCENDING), ("insurance_deadline", ASCENDING)])
        await self.refund_records.create_index("bill_id", unique=True)

    async def _move(self, order: dict[str, Any], to: str, **fields: Any) -> dict[str, Any] | None:
        """One transition, filtered on the order's current status (None if someone else moved)."""
        if to not in TRANSITIONS[order["status"]]:
            raise Conflict("invalid_transition", "医保支付单状态不允许该操作",
                           details={"from": order["status"], "to": to})
        return await self.orders.find_one_and_update(
            {"_id": order["_id"], "status": order["status"]},
            {"$set": {"status": to, **fields}}, return_document=ReturnDocument.AFTER)

    # ---- starting -------------------------------------------------------------------
    async def start(self, account_id: str, bill_id: str, pay_auth_no: str, openid: str,
                    order_type: str = "DIAG_PAY") -> dict[str, Any]:
        """6201 fee upload, then WeChat's mixed order; returns what the page needs to pay."""
        if not pay_auth_no or len(pay_auth_no) > 64:
            raise BusinessRuleViolation("pay_auth_required", "请先完成医保电子凭证授权")
        bill = await self.billing.bill_doc_for_account(account_id, bill_id)
        now = self.clock.now()
        if bill["status"] != "unpaid":
            raise Conflict("bill_not_payable", "该账单当前不可支付", details={"status": bill["status"]})
        if bill.get("expires_at") and bill["expires_at"] <= now:
            raise BusinessRuleViolation("bill_expired", "该账单已过期，请重新预约或联系窗口")
        reusable = await self.orders.find_one({"bill_id": bill["_id"], "status": "ordered",
                                               "expires_at": {"$gt": now + timedelta(minutes=1)}})
        if reusable is not None:
            return self._pay_params(reusable)
        out_trade_no = "MI" + local(now).strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()
        doc = {"_id": ObjectId(), "out_trade_no": out_trade_no, "bill_id": bill["_id"],
               "account_id": bill.get("account_id"), "status": "uploading",
               "order_type": order_type, "mix_pay_type": "", "total_fen": bill["total_fen"],
               "fund_fen": 0, "account_fen": 0, "cash_fen": 0, "created_at": now,
               "expires_at": now + timedelta(minutes=self.config.order_expiry_minutes),
               "insurance_deadline": now + timedelta(minutes=self.config.order_expiry_minutes,
                                                     seconds=self.config.insurance_timeout_seconds),
               "lease_owner": WORKER_ID,
               "lease_until": now + timedelta(seconds=self.config.lease_seconds)}
        await self.orders.insert_one(doc)
        try:
            split = await self.center.upload_fees(pay_auth_no=pay_auth_no, med_org_ord=out_trade_no,
                                                  items=bill["items"], total_fen=bill["total_fen"])
        except MedInsRejected:
            await self._move(doc, "failed", failure="6201_rejected")
            raise
        if split["total_fen"] != bill["total_fen"] or (
                split["fund_fen"] + split["account_fen"] + split["cash_fen"] != split["total_fen"]):
            await self._move(doc, "failed", failure="6201_amounts")
            raise BusinessRuleViolation("medins_amount_mismatch", "医保预结算金额与账单不符，请到窗口办理")
        insurance = split["fund_fen"] + split["account_fen"]
        doc = await self._move(doc, "uploaded", pay_ord_id=split["pay_ord_id"],
                               pay_token=split["pay_token"], fund_fen=split["fund_fen"],
                               account_fen=split["account_fen"], cash_fen=split["cash_fen"],
                               mix_pay_type=mix_pay_type(split["cash_fen"], insurance))
        try:
            mixed = await self.mix.create_order({
                "mix_pay_type": doc["mix_pay_type"], "order_type": order_type, "openid": openid,
                "out_trade_no": out_trade_no, "pay_order_id": doc["pay_ord_id"],
                "pay_auth_no": pay_auth_no, "total_fee": doc["total_fen"],
                "med_ins_gov_fee": doc["fund_fen"], "med_ins_self_fee": doc["account_fen"],
                "med_ins_other_fee": 0, "med_ins_cash_fee": doc["cash_fen"],
                "wechat_pay_cash_fee": doc["cash_fen"], "attach": str(bill["_id"]),
                "callback_url": self.billing.gateway.notify_url("med-ins")})
        except ChannelRejected:
            await self._reverse(doc, "wechat_order_rejected")
            raise
        doc = await self._move(doc, "ordered", mix_trade_no=mixed["mix_trade_no"],
                               lease_owner=None, lease_until=None)
        return self._pay_params(doc)

    def _pay_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        """For `wx.requestMedicalInsurancePay` / WeixinJSBridge `requestMedicalInsurancePay`."""
        return {**order_out(doc), "pay": {"mixTradeNo": doc["mix_trade_no"],
                                          "payOrderId": doc["pay_ord_id"]}}

    async def get(self, account_id: str, order_id: str) -> dict[str, Any]:
        """The patient's order; asks both sides when it is still open (the result page polls)."""
        doc = await self.orders.find_one(
            {"_id": parse_object_id(order_id, "medins_order_not_found", "未找到该医保支付单")})
        if doc is None or doc.get("account_id") != account_id:
            raise NotFound("medins_order_not_found", "未找到该医保支付单")
        if doc["status"] in ("ordered", "reversing"):
            try:
                await self.check(doc)
            except DependencyUnavailable:
                pass    # still unknown: the page keeps polling
            doc = await self.orders.find_one({"_id": doc["_id"]})
        return order_out(doc)

    # ---- finding out what happened ----------------------------------------------------
    async def handle_notice(self, notice: dict[str, Any]) -> str:
        """A verified WeChat med-ins notice: it only says "look"; both sides are asked again."""
        doc = await self.orders.find_one({"out_trade_no": notice.get("out_trade_no", ""),
                                          "mix_trade_no": notice.get("mix_trade_no", "")})
        if doc is None:
            await self.billing.flag("unknown_medins_order", {"out_trade_no":
                                    notice.get("out_trade_no")}, {"notice": notice}, via="callback")
            return "unknown"
        return await self.check(doc)

    async def check(self, doc: dict[str, Any]) -> str:
        """Ask WeChat (mixed order) and the platform (6301); settle, wait or reverse."""
        if doc["status"] == "reversing":
            return await self._finish_reversal(doc)
        if doc["status"] != "ordered":
            return doc["status"]
        now = self.clock.now()
        late = now >= doc["insurance_deadline"]
        try:
            mixed = await self.mix.query_order(doc["mix_trade_no"])
        except DependencyUnavailable:
            if late:
                return await self._reverse(doc, "wechat_unreachable")
            raise
        if mixed.get("mix_pay_status") == "MIX_PAY_FAIL":
            return await self._reverse(doc, "mix_pay_failed")
        paying = (mixed.get("mix_pay_status") == "MIX_PAY_SUCCESS"
                  or mixed.get("self_pay_status") == "SELF_PAY_SUCCESS"
                  or mixed.get("med_ins_pay_status") == "MED_INS_PAY_SUCCESS")
        if not paying:
            if now >= doc["expires_at"]:
                return await self._reverse(doc, "not_paid_in_time")
            return "pending"
        try:
            settlement = await self.center.query(pay_ord_id=doc["pay_ord_id"],
                                                 pay_token=doc["pay_token"])
        except DependencyUnavailable:
            if late:                 # the insurance side timed out: 冲正
                return await self._reverse(doc, "insurance_timeout")
            raise
        status = settlement["status"]
        if status in SETTLED_STATUSES and mixed.get("mix_pay_status") == "MIX_PAY_SUCCESS":
            return await self._settle(doc, settlement)
        if status in CANCELLED_STATUSES or status in FAILED_STATUSES:
            return await self._reverse(doc, f"insurance_status_{status}")
        if late:
            return await self._reverse(doc, "insurance_timeout")
        return "pending"

    async def _settle(self, doc: dict[str, Any], settlement: dict[str, Any]) -> str:
        ours = {k: doc[k] for k in ("total_fen", "fund_fen", "account_fen", "cash_fen")}
        theirs = {k: settlement[k] for k in ours}
        if ours != theirs:
            await self.billing.flag("medins_amount_mismatch", doc,
                                    {"ours": ours, "theirs": theirs}, via="6301")
            return "flagged"
        now = self.clock.now()
        bill = await self.billing.bills.find_one_and_update(
            {"_id": doc["bill_id"], "status": "unpaid"},
            {"$set": {"status": "paid", "paid_fen": doc["cash_fen"],
                      "refundable_fen": doc["cash_fen"], "medins_order_id": doc["_id"],
                      "out_trade_no": doc["out_trade_no"], "channel": self.channel_name,
                      "medins": {**ours, "setl_id": settlement.get("setl_id", "")},
                      "transaction_id": doc["mix_trade_no"], "paid_at": now,
                      "effects_pending": True, "lease_owner": WORKER_ID,
                      "lease_until": now + timedelta(
                          seconds=self.billing.config.effects_lease_seconds)}},
            return_document=ReturnDocument.AFTER)
        if bill is None:
            current = await self.billing.bills.find_one({"_id": doc["bill_id"]},
                                                        {"medins_order_id": 1, "status": 1})
            if current is not None and current.get("medins_order_id") == doc["_id"]:
                await self.orders.update_one({"_id": doc["_id"], "status": "ordered"},
                                             {"$set": {"status": "paid", "paid_at": now}})
                return "already"
            await self.billing.flag("duplicate_payment", doc,
                                    {"bill_status": (current or {}).get("status")}, via="medins")
            return await self._reverse(doc, "bill_no_longer_payable")
        await self.orders.update_one({"_id": doc["_id"], "status": "ordered"},
                                     {"$set": {"status": "paid", "paid_at": now,
                                               "lease_owner": None, "lease_until": None}})
        log.info("bill %s paid by 医保 order %s", bill["_id"], doc["out_trade_no"])
        self.billing._spawn(self.billing.run_effects(bill["_id"], bill))
        return "settled"

    # ---- reversal (冲正) ----------------------------------------------------------------
    async def _reverse(self, doc: dict[str, Any], reason: str) -> str:
        moved = await self._move(doc, "reversing", reversal_reason=reason,
                                 lease_owner=None, lease_until=None)
        if moved is None:      # someone else moved it: report what it became
            current = await self.orders.find_one({"_id": doc["_id"]}, {"status": 1})
            return current["status"]
        log.warning("医保 order %s reversing: %s", doc["out_trade_no"], reason)
        try:
            return await self._finish_reversal(moved)
        except DependencyUnavailable:
            return "reversing"    # recover_once finishes it

    async def _finish_reversal(self, doc: dict[str, Any]) -> str:
        """6401 on the platform, then the cash leg back to the payer; both idempotent."""
        if doc.get("pay_ord_id") and not doc.get("reversed_6401"):
            await self.center.reverse(pay_ord_id=doc["pay_ord_id"], med_org_ord=doc["out_trade_no"])
            await self.orders.update_one({"_id": doc["_id"]}, {"$set": {"reversed_6401": True}})
        if doc.get("mix_trade_no") and doc["cash_fen"] and not doc.get("cash_refund"):
            refund = await self._refund_cash_if_paid(doc, "RV" + doc["out_trade_no"][2:],
                                                     "医保结算未完成，自费部分原路退回")
            await self.orders.update_one({"_id": doc["_id"]}, {"$set": {"cash_refund": refund}})
        await self.orders.update_one({"_id": doc["_id"], "status": "reversing"},
                                     {"$set": {"status": "reversed",
                                               "reversed_at": self.clock.now()}})
        return "reversed"

    async def _refund_cash_if_paid(self, doc: dict[str, Any], refund_no: str,
                                   reason: str) -> dict[str, Any]:
        try:
            result = await self.wechat.refund(
                out_trade_no=doc["out_trade_no"], out_refund_no=refund_no,
                refund_fen=doc["cash_fen"], total_fen=doc["cash_fen"], reason=reason,
                notify_url=self.billing.gateway.notify_url("med-ins-refunds"))
        except ChannelRejected as error:
            if error.channel_code in ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"):
                return {"status": "NOT_PAID"}      # the cash leg never happened
            raise
        return {"status": result.get("status", ""), "out_refund_no": refund_no}

    async def recover_once(self) -> int:
        """Take one open order whose owner went away (crash) and drive it to an end."""
        now = self.clock.now()
        doc = await claim_one(self.orders, self.clock, {"$or": [
            {"status": "reversing"},
            {"status": {"$in": ["uploading", "uploaded", "ordered"]},
             "insurance_deadline": {"$lte": now}}]},
            timedelta(seconds=self.config.lease_seconds))
        if doc is None:
            return 0
        try:
            if doc["status"] in ("uploading", "uploaded"):
                await self._reverse(doc, "abandoned_before_order")
            else:
                await self.check(doc)
        except DependencyUnavailable:
            log.info("医保 order %s: recovery postponed", doc["out_trade_no"])
        return 1
