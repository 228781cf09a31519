"""Request and response bodies of 健康档案 readings, and what each kind of reading accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from services.models import ApiModel, OutModel

ReadingKind = Literal["blood_pressure", "glucose", "weight", "heart_rate"]

KIND_LABELS = {"blood_pressure": "血压", "glucose": "血糖", "weight": "体重", "heart_rate": "心率"}
UNITS = {"blood_pressure": "mmHg", "glucose": "mmol/L", "weight": "kg", "heart_rate": "次/分"}

# What a home device can plausibly show; outside this the number is a typing mistake,
# not a reading (a patient typing 1200 for 120 must be told, not charted).
PLAUSIBLE = {
    "systolic": (60, 260), "diastolic": (30, 160), "glucose": (1.0, 35.0),
    "weight": (2.0, 300.0), "heart_rate": (25, 250),
}


class ReadingIn(ApiModel):
    kind: ReadingKind
    measured_at: AwareDatetime
    systolic: int | None = Field(default=None, description="收缩压 mmHg (blood_pressure)")
    diastolic: int | None = Field(default=None, description="舒张压 mmHg (blood_pressure)")
    value: float | None = Field(default=None, description="glucose mmol/L, weight kg, heart_rate 次/分")
    fasting: bool | None = Field(default=None, description="空腹血糖 (glucose only)")
    note: str | None = Field(default=None, max_length=200)
    client_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                            description="Idempotency key: re-sending the same key stores nothing new")


class ReadingListQuery(ApiModel):
    kind: ReadingKind | None = None
    days: int = Field(default=90, ge=1, le=730)


class ReadingOut(OutModel):
    id: str
    kind: ReadingKind
    kind_label: str
    unit: str
    measured_at: datetime
    measured_at_local: str
    systolic: int | None = None
    diastolic: int | None = None
    value: float | None = None
    fasting: bool | None = None
    note: str | None = None
    flag: Literal["N", "H", "L"]
    flag_label: str
    display: str


class ReadingSaved(OutModel):
    outcome: Literal["created", "unchanged"]
    reading: ReadingOut


class KindSummary(OutModel):
    kind: ReadingKind
    kind_label: str
    count: int
    abnormal_count: int
    latest: ReadingOut | None


class ReadingList(OutModel):
    patient_id: str
    patient_name: str
    days: int
    summaries: list[KindSummary]
    readings: list[ReadingOut]   # newest first
