"""Request and response models of 医保 mobile payment (amounts in integer fen)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.models import ApiModel, OutModel


class MedInsPayIn(ApiModel):
    pay_auth_no: str = Field(min_length=1, max_length=64)   # 医保电子凭证 authorisation


class MedInsOrderOut(OutModel):
    id: str
    bill_id: str
    status: str
    out_trade_no: str
    mix_pay_type: str
    total_fen: int
    fund_fen: int          # 统筹
    account_fen: int       # 个人账户
    cash_fen: int          # 自费 (WeChat Pay)
    mix_trade_no: str | None = None
    paid_at: datetime | None = None


class MedInsPayOut(MedInsOrderOut):
    pay: dict[str, str]    # for wx.requestMedicalInsurancePay


class MedInsRefundPart(OutModel):
    fen: int
    status: str


class MedInsRefundOut(OutModel):
    id: str
    bill_id: str
    status: str
    refund_no: str
    reason: str
    total_fen: int
    insurance: MedInsRefundPart
    cash: MedInsRefundPart
    created_at: datetime
    finished_at: datetime | None = None


class MedInsRefundIn(ApiModel):
    reason: str = Field(min_length=1, max_length=80)


class MedInsReconcileIn(ApiModel):
    date: str = Field(min_length=10, max_length=10)


class MedInsReconciliationOut(OutModel):
    date: str
    status: str
    matched: int
    cash_mismatch: list[dict]
    insurance_mismatch: list[dict]
    ran_at: datetime
