"""Reconciliation (对账): the channel's trade bill of a day against our records, line by line.

Collection `reconciliations` {_id: "<channel>:<date>", channel, date, status running|done|
failed, matched, missing_at_channel[], missing_locally[], amount_mismatch[],
channel_summary{}, ran_at, error}. Payments are matched by out_trade_no on the day of
their channel success time; refunds by out_refund_no on the day they were requested
(the trade bill lists refunds on the day they were initiated).
"""

from __future__ import annotations

import logging
from datetime import date, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.billing.medins_reconcile import MEDINS_PREFIX
from services.billing.models import ReconciliationOut
from services.clock import at_local, local
from services.errors import BusinessRuleViolation, DependencyUnavailable
from services.payment.client import ChannelRejected, parse_trade_bill

log = logging.getLogger("palm.billing")


def _fen(value: str) -> int:
    try:
        return int((Decimal(value or "0") * 100).to_integral_value())
    except InvalidOperation:
        return 0


def reconciliation_out(doc: dict[str, Any]) -> ReconciliationOut:
    return ReconciliationOut(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


class ReconcileMixin:
    """The daily reconciliation job and its reports (mixed into BillingService)."""

    async def reconcile(self, day: date, channel_name: str | None = None) -> ReconciliationOut:
        """Download the channel's trade bill of `day` and compare; the report is stored."""
        channel = self.gateway.get(channel_name or self.config.default_channel)
        key = f"{channel.name}:{day.isoformat()}"
        now = self.clock.now()
        await self.reconciliations.update_one(
            {"_id": key}, {"$set": {"channel": channel.name, "date": day.isoformat(),
                                    "status": "running", "ran_at": now, "error": None}},
            upsert=True)
        try:
            text = await channel.client.trade_bill(day.isoformat())
        except (DependencyUnavailable, ChannelRejected) as error:
            await self.reconciliations.update_one(
                {"_id": key}, {"$set": {"status": "failed", "error": error.code}})
            raise
        rows, summary = parse_trade_bill(text)
        theirs_pay: dict[str, int] = {}
        theirs_refund: dict[str, int] = {}
        for row in rows:
            if row.get("商户订单号", "").startswith(MEDINS_PREFIX):
                continue   # 医保 mixed orders: reconciled with their insurance side (medins_reconcile)
            if row.get("交易状态") == "SUCCESS":
                theirs_pay[row.get("商户订单号", "")] = _fen(row.get("应结订单金额", "0"))
            elif row.get("交易状态") == "REFUND":
                theirs_refund[row.get("商户退款单号", "")] = _fen(row.get("退款金额", "0"))
        start = at_local(day, time(0))
        end = start + timedelta(days=1)
        ours_pay = {d["out_trade_no"]: d["amount_fen"] async for d in self.payments.find(
            {"channel": channel.name, "success_time": {"$gte": start, "$lt": end}},
            {"out_trade_no": 1, "amount_fen": 1})}
        ours_refund = {d["out_refund_no"]: d["amount_fen"] async for d in self.refunds.find(
            {"channel": channel.name, "created_at": {"$gte": start, "$lt": end},
             "status": {"$ne": "failed"}}, {"out_refund_no": 1, "amount_fen": 1})}
        report: dict[str, Any] = {"matched": 0, "missing_at_channel": [], "missing_locally": [],
                                  "amount_mismatch": []}
        for kind, ours, theirs in (("payment", ours_pay, theirs_pay),
                                   ("refund", ours_refund, theirs_refund)):
            for ref in sorted(set(ours) | set(theirs)):
                line = {"kind": kind, "ref": ref, "our_fen": ours.get(ref),
                        "channel_fen": theirs.get(ref)}
                if ref not in theirs:
                    report["missing_at_channel"].append(line)
                elif ref not in ours:
                    report["missing_locally"].append(line)
                elif ours[ref] != theirs[ref]:
                    report["amount_mismatch"].append(line)
                else:
                    report["matched"] += 1
        doc = {"_id": key, "channel": channel.name, "date": day.isoformat(), "status": "done",
               "channel_summary": summary, "ran_at": now, "error": None, **report}
        await self.reconciliations.replace_one({"_id": key}, doc, upsert=True)
        return reconciliation_out(doc)

    async def reconcile_day(self, day: str, channel_name: str | None = None) -> ReconciliationOut:
        """Reconcile a day given as YYYY-MM-DD (422 for an impossible date)."""
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            raise BusinessRuleViolation("date_invalid", "日期不正确") from None
        return await self.reconcile(parsed, channel_name)

    async def list_reconciliations(self, limit: int = 30) -> list[ReconciliationOut]:
        """The latest reports, newest day first (admin page)."""
        docs = await self.reconciliations.find({}).sort([("date", -1)]).to_list(limit)
        return [reconciliation_out(d) for d in docs]

    async def reconcile_daily_once(self) -> int:
        """After the configured hour, reconcile yesterday once per channel."""
        now = self.clock.now()
        if local(now).hour < self.config.reconcile_after_hour:
            return 0
        yesterday = local(now).date() - timedelta(days=1)
        for name in self.gateway.channels:
            key = f"{name}:{yesterday.isoformat()}"
            try:   # one process takes the day; a failed day is retried on the next round
                await self.reconciliations.insert_one({"_id": key, "channel": name,
                                                       "date": yesterday.isoformat(),
                                                       "status": "running", "ran_at": now})
            except DuplicateKeyError:
                taken = await self.reconciliations.find_one_and_update(
                    {"_id": key, "status": "failed",
                     "ran_at": {"$lte": now - timedelta(minutes=30)}},
                    {"$set": {"status": "running", "ran_at": now}})
                if taken is None:
                    continue
            try:
                await self.reconcile(yesterday, name)
            except (DependencyUnavailable, ChannelRejected) as error:
                log.warning("reconciliation %s failed: %s", key, error)
        return 0


