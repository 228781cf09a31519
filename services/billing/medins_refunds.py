"""One refund timeline for a bill paid by 医保 + 自费: the insurance part by 6203, the cash
part by WeChat's refund API, one status for the patient with both parts beside it.

Collection `medins_refunds` {_id, bill_id (unique: a mixed bill is refunded whole, once),
order_id, out_trade_no, refund_no, reason, requested_by, status processing|success|abnormal,
insurance{fen, status, refund_id}, cash{fen, status, out_refund_no}, created_at,
finished_at, lease_owner, lease_until}.

The bill is claimed for refunding by one conditional update (`paid` and no refund yet), so
two finance clerks clicking at once make one refund. Each part is idempotent at its peer
(6203 by appRefdSn, WeChat by out_refund_no): `advance` can run any number of times, from
the request, the patient's page or the `medins.refunds` job, until both parts are final.
A partial refund of a mixed bill needs the HIS to recompute the insurance split; it is not
offered here.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument

from services.actors import Actor
from services.catalogue import parse_object_id
from services.errors import Conflict, DependencyUnavailable, NotFound
from services.jobs import claim_one
from services.payment.client import ChannelRejected

log = logging.getLogger("palm.medins")

PART_FINAL = {"success", "none"}


def refund_out(doc: dict[str, Any]) -> dict[str, Any]:
    """What the patient and finance see: one status, both parts."""
    return {"id": str(doc["_id"]), "bill_id": str(doc["bill_id"]), "status": doc["status"],
            "refund_no": doc["refund_no"], "reason": doc["reason"],
            "total_fen": doc["insurance"]["fen"] + doc["cash"]["fen"],
            "insurance": {"fen": doc["insurance"]["fen"], "status": doc["insurance"]["status"]},
            "cash": {"fen": doc["cash"]["fen"], "status": doc["cash"]["status"]},
            "created_at": doc["created_at"], "finished_at": doc.get("finished_at")}


class MedInsRefunds:
    def __init__(self, payments: Any):
        self.payments = payments
        self.billing = payments.billing
        self.records = payments.refund_records
        self.clock = payments.clock

    async def ensure_indexes(self) -> None:
        await self.records.create_index("bill_id", unique=True)
        await self.records.create_index([("status", ASCENDING), ("created_at", ASCENDING)])

    async def refund(self, bill_id: str, reason: str, requested_by: Actor) -> dict[str, Any]:
        """Refund a 医保-paid bill in full: 6203 (HI) for insurance, WeChat for the cash part."""
        oid = parse_object_id(bill_id, "bill_not_found", "未找到该账单")
        refund_id = ObjectId()
        bill = await self.billing.bills.find_one_and_update(
            {"_id": oid, "status": "paid", "channel": self.payments.channel_name,
             "medins_refund_id": None},
            {"$set": {"medins_refund_id": refund_id, "refundable_fen": 0}},
            return_document=ReturnDocument.AFTER)
        if bill is None:
            current = await self.billing.bills.find_one({"_id": oid}, {"status": 1, "channel": 1})
            if current is None:
                raise NotFound("bill_not_found", "未找到该账单")
            raise Conflict("refund_not_allowed", "该账单不能按医保退费",
                           details={"status": current["status"], "channel": current.get("channel")})
        order = await self.payments.orders.find_one({"_id": bill["medins_order_id"]})
        split = bill["medins"]
        insurance_fen = split["fund_fen"] + split["account_fen"]
        now = self.clock.now()
        doc = {"_id": refund_id, "bill_id": oid, "order_id": order["_id"],
               "out_trade_no": order["out_trade_no"], "refund_no": "MR" + order["out_trade_no"][2:],
               "reason": reason[:80], "requested_by": requested_by.id, "status": "processing",
               "insurance": {"fen": insurance_fen,
                             "status": "processing" if insurance_fen else "none"},
               "cash": {"fen": split["cash_fen"],
                        "status": "processing" if split["cash_fen"] else "none"},
               "created_at": now, "lease_owner": None, "lease_until": None}
        await self.records.insert_one(doc)
        if self.billing.audit is not None:
            await self.billing.audit.record(requested_by, "billing.medins_refund",
                                            patient_id=bill.get("patient_id"),
                                            details={"bill_id": bill_id, "refund_no": doc["refund_no"]})
        return refund_out(await self.advance(doc))

    async def advance(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Move each unfinished part one step; finish the refund when both are final."""
        order = await self.payments.orders.find_one({"_id": doc["order_id"]})
        sets: dict[str, Any] = {}
        try:
            if doc["insurance"]["status"] == "processing":
                result = await self.payments.center.refund(
                    pay_ord_id=order["pay_ord_id"], refund_no=doc["refund_no"], refund_type="HI",
                    amount_fen=doc["insurance"]["fen"])
                if result["status"] == "SUCCESS":
                    sets["insurance.status"] = "success"
                    sets["insurance.refund_id"] = result["refund_id"]
            if doc["cash"]["status"] == "processing":
                sets.update(await self._advance_cash(doc))
        except DependencyUnavailable:
            log.info("医保 refund %s waits for a peer", doc["refund_no"])
        except ChannelRejected as error:
            log.warning("医保 refund %s cash part refused: %s", doc["refund_no"], error.channel_code)
            sets["cash.status"] = "abnormal"
        if sets:
            doc = await self.records.find_one_and_update({"_id": doc["_id"]}, {"$set": sets},
                                                         return_document=ReturnDocument.AFTER)
        if doc["status"] == "processing" and "abnormal" in (doc["insurance"]["status"],
                                                           doc["cash"]["status"]):
            await self.records.update_one({"_id": doc["_id"], "status": "processing"},
                                          {"$set": {"status": "abnormal"}})
            await self.billing.flag("medins_refund_abnormal", {
                "out_trade_no": doc["out_trade_no"], "bill_id": doc["bill_id"]},
                {"refund_no": doc["refund_no"]}, via="refund")
            return await self.records.find_one({"_id": doc["_id"]})
        if (doc["status"] == "processing" and doc["insurance"]["status"] in PART_FINAL
                and doc["cash"]["status"] in PART_FINAL):
            now = self.clock.now()
            finished = await self.records.find_one_and_update(
                {"_id": doc["_id"], "status": "processing"},
                {"$set": {"status": "success", "finished_at": now}},
                return_document=ReturnDocument.AFTER)
            if finished is not None:
                await self.billing.bills.update_one(
                    {"_id": doc["bill_id"], "status": "paid"},
                    {"$set": {"status": "refunded", "refunded_fen": doc["cash"]["fen"],
                              "refunded_at": now}})
                doc = finished
        return doc

    async def _advance_cash(self, doc: dict[str, Any]) -> dict[str, Any]:
        wechat = self.payments.wechat
        out_refund_no = doc["refund_no"]
        if not doc["cash"].get("out_refund_no"):
            result = await wechat.refund(
                out_trade_no=doc["out_trade_no"], out_refund_no=out_refund_no,
                refund_fen=doc["cash"]["fen"], total_fen=doc["cash"]["fen"],
                reason=doc["reason"], notify_url=self.billing.gateway.notify_url("med-ins-refunds"))
            await self.records.update_one({"_id": doc["_id"]},
                                          {"$set": {"cash.out_refund_no": out_refund_no}})
        else:
            result = await wechat.query_refund(out_refund_no)
        status = result.get("status", "")
        if status == "SUCCESS":
            return {"cash.status": "success", "cash.out_refund_no": out_refund_no}
        if status in ("CLOSED", "ABNORMAL"):
            return {"cash.status": "abnormal", "cash.out_refund_no": out_refund_no}
        return {"cash.out_refund_no": out_refund_no}

    async def handle_cash_refund_notice(self, resource: dict[str, Any]) -> str:
        """A verified REFUND.* notice for a cash leg of ours (`MR…` refund or `RV…` reversal)."""
        out_refund_no = resource.get("out_refund_no", "")
        doc = await self.records.find_one({"refund_no": out_refund_no})
        if doc is not None:
            if doc["status"] == "processing":
                await self.advance(doc)       # asks WeChat again; the notice decides nothing
            return "applied"
        order = await self.payments.orders.find_one({"cash_refund.out_refund_no": out_refund_no})
        if order is not None:
            await self.payments.orders.update_one({"_id": order["_id"]}, {"$set": {
                "cash_refund.status": str(resource.get("refund_status", ""))[:20]}})
            return "applied"
        await self.billing.flag("medins_refund_callback_unknown", {"out_trade_no": out_refund_no},
                                {"mchid": resource.get("mchid")}, via="callback")
        return "unknown"

    async def status_for_account(self, account_id: str, bill_id: str) -> dict[str, Any]:
        """The patient's view of their bill's refund (moves it on if still processing)."""
        bill = await self.billing.bill_doc_for_account(account_id, bill_id)
        doc = await self.records.find_one({"bill_id": bill["_id"]})
        if doc is None:
            raise NotFound("refund_not_found", "该账单没有退费记录")
        if doc["status"] == "processing":
            doc = await self.advance(doc)
        return refund_out(doc)

    async def advance_once(self) -> int:
        """The `medins.refunds` job: one processing refund, one step further."""
        doc = await claim_one(self.records, self.clock, {"status": "processing"},
                              timedelta(seconds=30), sort=[("created_at", ASCENDING)])
        if doc is None:
            return 0
        await self.advance(doc)
        await self.records.update_one({"_id": doc["_id"]},
                                      {"$set": {"lease_owner": None, "lease_until": None}})
        return 1
