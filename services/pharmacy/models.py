"""Request and response models of the pharmacy (decoction) domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.models import ApiModel, OutModel
from services.pharmacy.stages import Delivery, Mode, Stage

Handling = Literal["先煎", "后下", "包煎", "烊化", "另煎", "冲服"]


class HerbIn(ApiModel):
    name: str = Field(min_length=1, max_length=20, description="药名，如 黄芪")
    grams: float = Field(ge=0.1, le=1000, description="每帖克数")
    handling: Handling | None = Field(default=None, description="特殊煎法：先煎/后下/包煎/烊化…")


class PrescriptionIn(ApiModel):
    """A TCM prescription as the HIS (or a paid bill) sends it."""

    rx_no: str = Field(pattern=r"^[A-Za-z0-9-]{4,32}$", description="处方号（HIS 唯一）")
    patient_name: str = Field(min_length=1, max_length=40)
    patient_id: str | None = Field(default=None, description="就诊人 id（已绑定时）")
    card_no: str | None = Field(default=None, max_length=32, description="就诊卡号")
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$", description="通知手机号")
    herbs: list[HerbIn] = Field(min_length=1, max_length=60)
    doses: int = Field(ge=1, le=90, description="帖数")
    mode: Mode = Field(description="pharmacy=代煎, self=自煎")
    delivery: Delivery = Field(description="pickup=窗口自取, courier=快递")
    pickup_window: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=200, description="快递地址（加密保存）")
    doctor: str | None = Field(default=None, max_length=40)
    department: str | None = Field(default=None, max_length=40)
    payment_required: bool = Field(default=False, description="须在线缴费：缴费后才进入药房（待缴费）")

    @model_validator(mode="after")
    def _courier_needs_address(self) -> "PrescriptionIn":
        if self.delivery == "courier" and not (self.address or "").strip():
            raise ValueError("快递配送需要填写收货地址")
        return self


class ScanIn(ApiModel):
    code: str = Field(min_length=1, max_length=600, description="扫码内容：标签二维码或处方号")
    station: str | None = Field(default=None, max_length=40)


class AdvanceIn(ApiModel):
    to_stage: Stage
    station: str | None = Field(default=None, max_length=40, description="工位，如 煎药间-2")
    courier: str | None = Field(default=None, max_length=30, description="发货时必填：快递公司")
    tracking_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{6,40}$",
                                    description="发货时必填：运单号")


class BatchAdvanceIn(AdvanceIn):
    ids: list[str] = Field(min_length=1, max_length=100)


class UndoIn(ApiModel):
    reason: str = Field(min_length=2, max_length=200, description="撤销原因（记入审计）")
    station: str | None = Field(default=None, max_length=40)


class HerbOut(OutModel):
    name: str
    grams: float
    handling: str | None = None


class StepOut(OutModel):
    n: int
    stage: str
    label: str
    at: datetime
    by: str = ""
    station: str = ""


class PrescriptionOut(OutModel):
    """What a pharmacist sees: masked personal data, the stage and the next action."""

    id: str
    rx_no: str
    patient_id: str | None = None
    patient_name: str = Field(description="脱敏姓名")
    herbs: list[HerbOut]
    doses: int
    mode: str
    mode_label: str
    delivery: str
    delivery_label: str
    pickup_window: str | None = None
    address: str | None = Field(default=None, description="脱敏地址")
    doctor: str | None = None
    department: str | None = None
    stage: str
    stage_label: str
    stage_entered_at: datetime
    waiting_minutes: int
    next_stage: str | None
    next_action: str | None
    courier: str | None = None
    tracking_no: str | None = None
    steps: list[StepOut]
    created_at: datetime
    progress_url: str


class IntakeOut(OutModel):
    created: bool
    prescription: PrescriptionOut


class BatchItemOut(OutModel):
    id: str
    ok: bool
    stage: str | None = None
    code: str | None = None
    message: str | None = None


class BatchOut(OutModel):
    succeeded: int
    failed: int
    items: list[BatchItemOut]


class QueueItemOut(OutModel):
    id: str
    rx_no: str
    stage: str
    stage_label: str
    patient_name: str
    mode_label: str
    stage_entered_at: datetime
    waiting_minutes: int
    limit_minutes: int
    overdue: bool


class QueueOut(OutModel):
    stage: str
    label: str
    count: int
    limit_minutes: int
    items: list[QueueItemOut]


class TimelineStep(OutModel):
    stage: str
    label: str
    at: datetime | None = None
    at_text: str = ""
    done: bool
    current: bool


class ProgressOut(OutModel):
    """The public progress view: a masked name and nothing more personal."""

    rx_no: str
    patient_name: str
    mode_label: str
    delivery: str
    stage: str
    stage_label: str
    timeline: list[TimelineStep]
    ready: bool
    estimated_ready_at: datetime | None = None
    estimated_ready_text: str = ""
    pickup_place: str | None = None
    courier: str | None = None
    tracking_no: str | None = None
    progress_url: str


class PatientPrescriptionOut(OutModel):
    id: str
    rx_no: str
    patient_name: str
    mode_label: str
    doses: int
    stage: str
    stage_label: str
    created_at: datetime
    progress_url: str
    progress_path: str


class MemberPrescriptionsOut(OutModel):
    patient_id: str
    patient_name: str = Field(description="脱敏姓名")
    prescriptions: list[PatientPrescriptionOut]


class LabelOut(OutModel):
    rx_no: str
    patient_name: str
    mode_label: str
    delivery_label: str
    doses: int
    herbs: list[HerbOut]
    qr_text: str
    qr_data_url: str


class StageStatOut(OutModel):
    stage: str
    label: str
    samples: int
    avg_minutes: float | None
    p90_minutes: float | None


class DayCountOut(OutModel):
    day: str
    bags: int


class StatsOut(OutModel):
    days: int
    stages: list[StageStatOut]
    per_day: list[DayCountOut]
    overdue: int
    overdue_by_stage: dict[str, int]


class PharmacyConfig(BaseModel):
    """`[pharmacy]` settings (defaults also in config/default.toml)."""

    model_config = ConfigDict(extra="ignore")
    soak_minutes: int = 30
    token_days: int = 60
    notify_stages: list[str] = ["received", "decocting", "ready_for_pickup", "shipped"]
    stage_limits_minutes: dict[str, int] = {
        "received": 30, "reviewed": 30, "dispensed": 60, "checked": 30, "soaking": 120,
        "decocting": 90, "packed": 60, "ready_for_pickup": 4320, "shipped": 7200,
    }
    pickup_place: str = "门诊楼一楼中药房 代煎取药窗口"
    estimate_sample: int = 300
    estimate_cache_seconds: int = 60
    stats_days: int = 14
    queue_limit: int = 200
