"""Request and response models of registration (also the OpenAPI schemas)."""

from __future__ import annotations

import re
from datetime import date as Date
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from services.models import ApiModel, OutModel

Period = Literal["morning", "afternoon", "evening"]
ScheduleType = Literal["general", "expert", "special"]
PERIOD_NAMES = {"morning": "上午", "afternoon": "下午", "evening": "晚间"}
TYPE_NAMES = {"general": "普通号", "expert": "专家号", "special": "特需号"}
STATUS_NAMES = {
    "booked": "待就诊", "checked_in": "已报到", "called": "叫号中", "completed": "已就诊",
    "cancelled": "已取消", "stopped": "停诊取消", "no_show": "爽约",
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


# ---- input -------------------------------------------------------------------------------

class SlotIn(ApiModel):
    start: str = Field(description="HH:MM, Asia/Shanghai")
    end: str = Field(description="HH:MM, Asia/Shanghai; at most 30 minutes after start")
    capacity: int = Field(ge=0, le=500)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("时间格式应为 HH:MM")
        return value


class ScheduleIn(ApiModel):
    his_id: str = Field(min_length=1, max_length=64, description="HIS 的排班编号（幂等键）")
    doctor_code: str = Field(min_length=1, max_length=32)
    department_code: str | None = Field(None, max_length=32,
                                        description="缺省为医生所在科室")
    campus_code: str | None = Field(None, max_length=32, description="缺省为医生所在院区")
    date: Date
    period: Period
    type: ScheduleType = "general"
    fee_fen: int = Field(ge=0, le=1_000_000)
    room: str = Field("", max_length=60)
    slots: list[SlotIn] = Field(min_length=1, max_length=48)
    status: Literal["open", "stopped"] = "open"
    release_at: datetime | None = Field(None, description="放号时间；缺省按科室规则计算")


class ScheduleBatchIn(ApiModel):
    schedules: list[ScheduleIn] = Field(min_length=1, max_length=200)


class ScheduleQuery(ApiModel):
    department_id: str | None = Field(None, max_length=64)
    doctor_id: str | None = Field(None, max_length=64)
    date: Date | None = None


class AvailabilityQuery(ApiModel):
    department_id: str = Field(min_length=1, max_length=64)


class AdminScheduleQuery(ApiModel):
    department_id: str = Field(min_length=1, max_length=64)
    date: Date


class StopIn(ApiModel):
    reason: str = Field("医生临时停诊", max_length=100)


class BookIn(ApiModel):
    patient_id: str = Field(min_length=1, max_length=64)
    slot_id: str = Field(min_length=1, max_length=64)


class WaitlistIn(ApiModel):
    patient_id: str = Field(min_length=1, max_length=64)
    schedule_id: str = Field(min_length=1, max_length=64)


class CheckInIn(ApiModel):
    clinic_code: str = Field(min_length=10, max_length=400, description="诊区二维码内容")


class KioskCheckInIn(ApiModel):
    ticket_code: str = Field(min_length=10, max_length=400, description="挂号凭证二维码内容")


class StationQuery(ApiModel):
    department_id: str = Field(min_length=1, max_length=64)


class StationActionQuery(ApiModel):
    # the appointment id the station showed as called ("none" for nobody): a retried or
    # doubled press that no longer matches the queue changes nothing
    expect: str | None = Field(None, pattern=r"^([0-9a-f]{24}|none)$")


class DisplayQuery(ApiModel):
    clinic_id: str = Field(min_length=1, max_length=80)


# ---- output ------------------------------------------------------------------------------

class SlotOut(OutModel):
    id: str
    start: datetime
    end: datetime
    label: str
    capacity: int
    remaining: int


class ScheduleOut(OutModel):
    id: str
    his_id: str
    doctor_id: str
    doctor_name: str
    doctor_title: str
    department_id: str
    department_name: str
    campus_code: str
    clinic_id: str
    room: str
    date: Date
    period: Period
    period_name: str
    type: ScheduleType
    type_name: str
    fee_fen: int
    status: str
    release_at: datetime
    released: bool
    remaining: int
    slots: list[SlotOut]


class ScheduleAdminOut(ScheduleOut):
    booked: int
    waitlist: int


class DoctorDates(OutModel):
    doctor_id: str
    doctor_name: str
    doctor_title: str
    specialty: str = ""
    photo_url: str = ""
    dates: list[Date]                  # dates with at least one released place
    upcoming: list[Date]               # dates with schedules (any state)


class UpsertResult(OutModel):
    created: int
    updated: int
    stopped: int
    ids: dict[str, str]                # his_id → schedule id


class StopResult(OutModel):
    schedule_id: str
    cancelled: int


class AppointmentOut(OutModel):
    id: str
    ticket_no: str
    status: str
    status_name: str
    patient_id: str
    patient_name: str                  # masked
    schedule_id: str
    slot_id: str
    doctor_id: str
    doctor_name: str
    doctor_title: str
    department_id: str
    department_name: str
    campus_code: str
    clinic_id: str
    room: str
    date: Date
    period: Period
    slot_start: datetime
    slot_end: datetime
    time_label: str
    fee_fen: int
    fee_status: str                    # unpaid | paid | refunding | pay_at_check_in | free_revisit
    bill_id: str | None = None         # the fee bill (pay it at /h5/bills/{bill_id})
    revisit_of: str | None = None
    qr_code: str = Field(description="挂号凭证二维码内容（签名令牌）")
    qr_url: str
    checked_in_at: datetime | None = None
    late: bool = False
    cancellable: bool
    can_check_in: bool
    created_at: datetime


class WaitlistOut(OutModel):
    id: str
    schedule_id: str
    patient_id: str
    patient_name: str
    status: str
    position: int | None = None
    doctor_name: str
    department_name: str
    date: Date
    period: Period
    appointment_id: str | None = None
    expires_at: datetime
    created_at: datetime


class QueueOut(OutModel):
    appointment_id: str
    status: str
    ticket_no: str
    calling: str | None                 # ticket number being called
    ahead: int | None                   # patients before you (None: not in the queue)
    estimated_minutes: int | None
    estimated_at: datetime | None
    message: str


class QueueEntry(OutModel):
    appointment_id: str
    ticket_no: str
    patient_name: str                   # masked
    status: str
    late: bool = False
    slot_start: datetime
    checked_in_at: datetime | None = None


class StationOut(OutModel):
    schedule_id: str
    doctor_name: str
    department_name: str
    room: str
    current: QueueEntry | None
    waiting: list[QueueEntry]
    not_arrived: int
    done: int
    # false when a press carried `expect` and the queue had moved on: nothing was changed
    applied: bool = True


class DisplayDoctor(OutModel):
    schedule_id: str
    doctor_name: str
    room: str
    calling: QueueEntry | None
    waiting: list[QueueEntry]


class DisplayOut(OutModel):
    clinic_id: str
    updated_at: datetime
    doctors: list[DisplayDoctor]


class ClinicCodeOut(OutModel):
    clinic_id: str
    code: str
    qr_png: str                         # data: URL of the QR image to print
