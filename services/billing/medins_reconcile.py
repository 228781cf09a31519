"""Reconciling 医保 orders on both sides (对账): the cash legs against WeChat's trade bill, the
insurance legs against the 医保 bureau's statement, each separately, every difference flagged.

Collection `reconciliations` gets one report per day under `_id: "medins:<date>"`:
{matched, cash_mismatch[], insurance_mismatch[], ran_at}. The WeChat side reads the same
trade bill as the cash reconciliation (reconcile.py), which leaves our `MI…` orders to this
module; refunds of cash legs (reversal `RV…`, refund `MR…`) are matched by out_refund_no.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from services.clock import at_local
from services.errors import BusinessRuleViolation
from services.payment.client import parse_trade_bill
from services.payment.medins_center import yuan_to_fen

MEDINS_PREFIX = "MI"


def _bill_fen(value: str) -> int:
    return yuan_to_fen((value or "0").strip() or "0")


class MedInsReconciliation:
    def __init__(self, payments: Any):
        self.payments = payments
        self.billing = payments.billing

    async def reconcile_day(self, day: str) -> dict[str, Any]:
        """Compare one day (YYYY-MM-DD, Shanghai) on both sides; the report is stored."""
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            raise BusinessRuleViolation("date_invalid", "日期不正确") from None
        start = at_local(parsed, time(0))
        end = start + timedelta(days=1)
        ours = {d["out_trade_no"]: d async for d in self.payments.orders.find(
            {"status": "paid", "paid_at": {"$gte": start, "$lt": end}})}
        ours_refunds = {}
        async for d in self.payments.orders.find({"cash_refund.out_refund_no": {"$exists": True},
                                                  "reversed_at": {"$gte": start, "$lt": end}}):
            ours_refunds[d["cash_refund"]["out_refund_no"]] = d["cash_fen"]
        async for d in self.payments.refund_records.find(
                {"created_at": {"$gte": start, "$lt": end}, "cash.fen": {"$gt": 0}}):
            ours_refunds[d["refund_no"]] = d["cash"]["fen"]

        text = await self.payments.wechat.trade_bill(day)
        rows, _ = parse_trade_bill(text)
        wechat_pay: dict[str, int] = {}
        wechat_refund: dict[str, int] = {}
        for row in rows:
            if not row.get("商户订单号", "").startswith(MEDINS_PREFIX):
                continue
            if row.get("交易状态") == "SUCCESS":
                wechat_pay[row["商户订单号"]] = _bill_fen(row.get("应结订单金额", "0"))
            elif row.get("交易状态") == "REFUND":
                wechat_refund[row.get("商户退款单号", "")] = _bill_fen(row.get("退款金额", "0"))
        # a cash leg reversed the same day was paid that day too: it appears as paid and refunded
        ours_cash = {k: d["cash_fen"] for k, d in ours.items() if d["cash_fen"]}
        async for d in self.payments.orders.find({"status": "reversed", "cash_refund.status": {
                "$ne": "NOT_PAID"}, "reversed_at": {"$gte": start, "$lt": end}}):
            if d.get("cash_refund"):
                ours_cash[d["out_trade_no"]] = d["cash_fen"]

        statement = {row["med_org_ord"]: row for row in
                     await self.payments.center.statement(day)}
        ours_insurance = {k: {"fund_fen": d["fund_fen"], "account_fen": d["account_fen"]}
                          for k, d in ours.items() if d["fund_fen"] or d["account_fen"]}
        theirs_insurance = {k: {"fund_fen": r["fund_fen"], "account_fen": r["account_fen"]}
                            for k, r in statement.items()}

        report: dict[str, Any] = {"matched": 0, "cash_mismatch": [], "insurance_mismatch": []}
        for side, mine, theirs, key in (
                ("cash", ours_cash, wechat_pay, "cash_mismatch"),
                ("cash_refund", ours_refunds, wechat_refund, "cash_mismatch"),
                ("insurance", ours_insurance, theirs_insurance, "insurance_mismatch")):
            for ref in sorted(set(mine) | set(theirs)):
                if mine.get(ref) == theirs.get(ref):
                    report["matched"] += 1
                    continue
                line = {"side": side, "ref": ref, "ours": mine.get(ref), "theirs": theirs.get(ref)}
                report[key].append(line)
                await self.billing.flag(f"medins_{side}_mismatch", {"out_trade_no": ref}, line,
                                        via=f"reconcile:{day}")
        doc = {"_id": f"medins:{day}", "channel": "medins", "date": day, "status": "done",
               "ran_at": self.billing.clock.now(), **report}
        await self.billing.reconciliations.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return doc
