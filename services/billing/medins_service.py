"""`MedInsService`: 医保 mobile payment as one service for handlers and assembly.

    medins.py            MedInsPayments        6201 → mixed order → 6301 → paid | 6401 reversed
    medins_refunds.py    MedInsRefunds         6203 (HI) + WeChat refund, one status
    medins_reconcile.py  MedInsReconciliation  trade bill (cash) and bureau statement (insurance)
    medins_models.py     the API's request and response models
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.actors import Actor
from services.billing.medins import MedInsPayments
from services.billing.medins_models import (
    MedInsOrderOut,
    MedInsPayOut,
    MedInsReconciliationOut,
    MedInsRefundOut,
)
from services.billing.medins_reconcile import MedInsReconciliation
from services.billing.medins_refunds import MedInsRefunds
from services.jobs import PeriodicTask


class MedInsSettings(BaseModel):
    """`[medins]` in config/default.toml (the secret only from PALM_SECRET_MEDINS_KEY)."""

    model_config = ConfigDict(extra="ignore")
    enabled: bool = False
    center_base_url: str = ""        # 移动支付中心, handed out at onboarding
    org_code: str = ""               # 定点医药机构编码
    wechat_base_url: str = "https://api.mch.weixin.qq.com"
    channel: str = "wechat"          # the APIv3 channel whose merchant keys sign and refund
    center_timeout_seconds: float = 5.0
    order_expiry_minutes: int = 15
    insurance_timeout_seconds: int = 120
    sandbox: bool = True             # development only: /sandbox/medins


class MedInsService:
    def __init__(self, payments: MedInsPayments):
        self.payments = payments
        self.refunds = MedInsRefunds(payments)
        self.reconciliation = MedInsReconciliation(payments)

    async def ensure_indexes(self) -> None:
        await self.payments.ensure_indexes()
        await self.refunds.ensure_indexes()

    def background_tasks(self) -> list[PeriodicTask]:
        return [PeriodicTask("medins.recover", self.payments.recover_once, 10.0),
                PeriodicTask("medins.refunds", self.refunds.advance_once, 10.0)]

    async def pay(self, account_id: str, bill_id: str, pay_auth_no: str) -> MedInsPayOut:
        """Start (or reuse) the 医保 + 自费 order of a bill for the patient's authorisation."""
        billing = self.payments.billing
        bill = await billing.bill_doc_for_account(account_id, bill_id)
        channel = billing.gateway.get(self.payments.wechat_channel)
        openid = await billing._payer_openid(bill, channel)
        started = await self.payments.start(account_id, bill_id, pay_auth_no, openid,
                                            order_type=_order_type(bill))
        return MedInsPayOut(**started)

    async def get_order(self, account_id: str, order_id: str) -> MedInsOrderOut:
        """The order as the result page shows it (asks both sides while open)."""
        return MedInsOrderOut(**await self.payments.get(account_id, order_id))

    async def refund_status(self, account_id: str, bill_id: str) -> MedInsRefundOut:
        """The patient's one-status view of a mixed refund."""
        return MedInsRefundOut(**await self.refunds.status_for_account(account_id, bill_id))

    async def refund(self, bill_id: str, reason: str, actor: Actor) -> MedInsRefundOut:
        """Finance refunds a 医保-paid bill in full (both parts)."""
        return MedInsRefundOut(**await self.refunds.refund(bill_id, reason, actor))

    async def reconcile_day(self, day: str) -> MedInsReconciliationOut:
        """Both sides of one day's 医保 orders."""
        report = await self.reconciliation.reconcile_day(day)
        return MedInsReconciliationOut(**{k: v for k, v in report.items() if k != "_id"})

    async def handle_callback(self, headers: Mapping[str, str], body: bytes) -> str:
        """A WeChat med-ins notice: verified like every APIv3 callback, then re-checked."""
        verified = await self.payments.billing.gateway.verifier.verify(headers, body)
        resource: dict[str, Any] = verified.resource
        return await self.payments.handle_notice(resource)

    async def handle_refund_callback(self, headers: Mapping[str, str], body: bytes) -> str:
        """WeChat's refund notice for the cash leg of a 医保 order (refund or reversal)."""
        verified = await self.payments.billing.gateway.verifier.verify(headers, body)
        if not verified.event_type.startswith("REFUND."):
            return "ignored"
        return await self.refunds.handle_cash_refund_notice(verified.resource)


def _order_type(bill: dict[str, Any]) -> str:
    return {"registration": "REG_PAY", "inpatient": "IN_HOSP_PAY"}.get(bill["source"], "DIAG_PAY")
