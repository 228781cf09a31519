"""Billing's request and response models, settings and constants."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.models import ApiModel, OutModel

Category = Literal["西药", "中成药", "中药饮片", "检查", "检验", "治疗", "材料", "挂号"]
BillStatus = Literal["unpaid", "paid", "partially_refunded", "refunded", "expired", "cancelled"]
PaymentStatus = Literal["pending", "paid", "closed", "failed"]
RefundStatus = Literal["processing", "success", "closed", "abnormal", "failed"]

MAX_FEN = 100_000_000_00   # one hundred million yuan: beyond that it is a data error


class BillingConfig(BaseModel):
    """`[billing]` in config/default.toml."""

    model_config = ConfigDict(extra="ignore")
    default_channel: str = "sandbox"
    payment_expiry_minutes: int = 15
    effects_lease_seconds: int = 60
    refund_check_after_seconds: int = 60
    reconcile_after_hour: int = 10          # fetch D-1's trade bill after 10:00 Shanghai
    reconcile_interval_seconds: int = 300
    expiry_interval_seconds: float = 5.0
    his_title: str = "门诊缴费"


class BillItemIn(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    category: Category
    quantity: Decimal = Field(gt=0, le=100000, max_digits=12, decimal_places=4)
    unit: str = Field(default="", max_length=10)
    unit_price_fen: int = Field(ge=0, le=MAX_FEN)
    amount_fen: int = Field(ge=0, le=MAX_FEN)
    spec: str = Field(default="", max_length=100)


class InsuranceSplitIn(ApiModel):
    """What the HIS computed: 统筹 (pooled fund), 个人账户 (personal account), 自费 (self-pay)."""

    pooled_fen: int = Field(default=0, ge=0, le=MAX_FEN)
    personal_account_fen: int = Field(default=0, ge=0, le=MAX_FEN)
    self_pay_fen: int = Field(ge=0, le=MAX_FEN)


class VisitIn(ApiModel):
    visit_no: str = Field(min_length=1, max_length=40)
    department: str = Field(default="", max_length=50)
    doctor: str = Field(default="", max_length=30)
    visit_time: datetime | None = None


class HisBillIn(ApiModel):
    """A bill the HIS pushes (idempotent by `his_bill_id`)."""

    his_bill_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_\-]+$")
    patient_id: str | None = Field(default=None, max_length=64)
    hospital_card_no: str | None = Field(default=None, max_length=40)
    visit: VisitIn
    items: list[BillItemIn] = Field(min_length=1, max_length=200)
    total_fen: int = Field(gt=0, le=MAX_FEN)
    insurance: InsuranceSplitIn
    prescription_no: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=60)


class BillItemOut(OutModel):
    name: str
    category: str
    quantity: str
    unit: str = ""
    spec: str = ""
    unit_price_fen: int
    amount_fen: int


class InsuranceSplitOut(OutModel):
    pooled_fen: int
    personal_account_fen: int
    self_pay_fen: int


class VisitOut(OutModel):
    visit_no: str = ""
    department: str = ""
    doctor: str = ""
    visit_time: datetime | None = None


class BillOut(OutModel):
    id: str
    source: str
    source_ref: str
    title: str
    patient_id: str
    patient_name: str            # masked
    visit: VisitOut
    items: list[BillItemOut]
    total_fen: int
    insurance: InsuranceSplitOut
    payable_fen: int             # what the patient pays through the channel (自费)
    status: BillStatus
    paid_fen: int = 0
    refunded_fen: int = 0
    prescription_no: str | None = None
    receipt_no: str | None = None
    created_at: datetime
    paid_at: datetime | None = None
    expires_at: datetime | None = None


class PayIn(ApiModel):
    channel: str | None = Field(default=None, max_length=20)


class PaymentOut(OutModel):
    id: str
    bill_id: str
    out_trade_no: str
    channel: str
    amount_fen: int
    description: str
    status: PaymentStatus
    bill_status: str | None = None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None


class PayOut(PaymentOut):
    jsapi: dict[str, str]        # {appId, timeStamp, nonceStr, package, signType, paySign}
    cashier_url: str | None = None   # sandbox only


class RefundIn(ApiModel):
    amount_fen: int = Field(gt=0, le=MAX_FEN)
    reason: str = Field(min_length=1, max_length=80)


class RefundOut(OutModel):
    id: str
    bill_id: str
    out_refund_no: str
    amount_fen: int
    reason: str
    status: RefundStatus
    created_at: datetime
    succeeded_at: datetime | None = None


class ReceiptOut(OutModel):
    """电子票据 data: what the kiosk prints and the patient sees."""

    receipt_no: str
    bill_id: str
    hospital: str
    patient_name: str
    title: str
    items: list[BillItemOut]
    total_fen: int
    insurance: InsuranceSplitOut
    paid_fen: int
    channel: str
    transaction_id: str
    paid_at: datetime
    issued_at: datetime
    check_code: str


class ReconcileIn(ApiModel):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    channel: str | None = Field(default=None, max_length=20)


class ReconcileLine(OutModel):
    kind: Literal["payment", "refund"]
    ref: str
    our_fen: int | None = None
    channel_fen: int | None = None


class ReconciliationOut(OutModel):
    id: str
    channel: str
    date: str
    status: str
    matched: int = 0
    missing_at_channel: list[ReconcileLine] = Field(default_factory=list)
    missing_locally: list[ReconcileLine] = Field(default_factory=list)
    amount_mismatch: list[ReconcileLine] = Field(default_factory=list)
    channel_summary: dict[str, str] = Field(default_factory=dict)
    ran_at: datetime | None = None
    error: str | None = None


class FlagOut(OutModel):
    id: str
    kind: str
    out_trade_no: str | None = None
    bill_id: str | None = None
    details: dict = Field(default_factory=dict)
    created_at: datetime


def line_amount(quantity: Decimal, unit_price_fen: int) -> int:
    """quantity × unit price in fen, rounded half up (as the HIS prices fractional units)."""
    return int((quantity * unit_price_fen).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan(fen: int) -> str:
    """¥12.50 for 1250."""
    return f"¥{fen // 100}.{fen % 100:02d}"
