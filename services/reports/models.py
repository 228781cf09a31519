"""What the LIS/PACS sends (HisReportIn) and what patients, kiosks and staff read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from services.models import ApiModel, OutModel
from services.reports.flags import HINTS, LABELS, is_abnormal, is_critical, normalise_flag, severity

ReportKind = Literal["lab", "exam"]
ReportStatus = Literal["pending", "final", "amended"]

KIND_LABELS = {"lab": "检验", "exam": "检查"}
STATUS_LABELS = {"pending": "检查中", "final": "已出报告", "amended": "已更正"}


class LabItemIn(ApiModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=60)
    value: str = Field(max_length=80)
    unit: str = Field(default="", max_length=30)
    reference_range: str = Field(default="", max_length=60)
    ref_low: float | None = None
    ref_high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    flag: str | None = Field(default=None, max_length=10)

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: Any) -> Any:
        # LIS systems send numbers as JSON numbers or strings; keep the text as sent.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("flag")
    @classmethod
    def _known_flag(cls, value: str | None) -> str | None:
        return normalise_flag(value)


class ExamIn(ApiModel):
    exam: str = Field(min_length=1, max_length=100)
    body_part: str = Field(default="", max_length=60)
    findings: str = Field(default="", max_length=8000)
    impression: str = Field(default="", max_length=4000)


class HisReportIn(ApiModel):
    """One report pushed by the LIS (检验) or PACS/exam system (检查)."""

    source: str = Field(default="HIS", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_.-]+$")
    report_id: str = Field(min_length=1, max_length=64)
    kind: ReportKind
    status: ReportStatus
    patient_id: str | None = Field(default=None, max_length=40)
    hospital_card_no: str | None = Field(default=None, min_length=4, max_length=32)
    patient_name: str | None = Field(default=None, max_length=30)
    title: str = Field(min_length=1, max_length=60)
    department: str = Field(default="", max_length=40)
    specimen: str = Field(default="", max_length=30)
    collected_at: datetime | None = None
    reported_at: datetime | None = None
    items: list[LabItemIn] = Field(default_factory=list, max_length=300)
    exam: ExamIn | None = None
    amendment_note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _complete(self) -> HisReportIn:
        if not self.patient_id and not self.hospital_card_no:
            raise ValueError("需提供 patient_id 或 hospital_card_no")
        for moment in (self.collected_at, self.reported_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("时间需带时区，例如 2026-12-01T09:30:00+08:00")
        if self.status != "pending":
            if self.kind == "lab" and not self.items:
                raise ValueError("检验报告需包含检验项目")
            if self.kind == "exam" and self.exam is None:
                raise ValueError("检查报告需包含检查所见与诊断意见")
        codes = [item.code for item in self.items]
        if len(codes) != len(set(codes)):
            raise ValueError("检验项目代码重复")
        return self


class IngestResult(OutModel):
    id: str
    status: ReportStatus
    version: int
    outcome: Literal["created", "updated", "amended", "unchanged"]
    linked: bool


class ItemOut(OutModel):
    code: str
    name: str
    value: str
    unit: str = ""
    reference_range: str = ""
    flag: str | None = None          # N H L HH LL A AA
    flag_label: str = ""             # 偏高 / 偏低 / 危急（偏高）…
    hint: str = ""                   # plain Chinese for patients
    abnormal: bool = False
    critical: bool = False


class ExamOut(OutModel):
    exam: str
    body_part: str = ""
    findings: str = ""
    impression: str = ""


class VersionOut(OutModel):
    version: int
    status: ReportStatus
    reported_at: datetime | None = None
    replaced_at: datetime


class ReportSummary(OutModel):
    id: str
    patient_id: str | None
    patient_name: str = ""           # masked
    kind: ReportKind
    kind_label: str
    title: str
    department: str = ""
    status: ReportStatus
    status_label: str
    version: int
    reported_at: datetime | None = None
    collected_at: datetime | None = None
    abnormal_count: int = 0
    critical_count: int = 0
    print_count: int = 0


class ReportOut(ReportSummary):
    report_no: str
    specimen: str = ""
    items: list[ItemOut] = Field(default_factory=list)
    exam: ExamOut | None = None
    results_available: bool = True
    amendment_note: str = ""
    note: str = ""                   # "此报告已更正，显示的是最新版本（第 2 版）"
    previous_versions: list[VersionOut] = Field(default_factory=list)
    verify_code: str = ""


class PrintRecordOut(OutModel):
    at: datetime
    by: str
    version: int
    count: int


class PrintHistoryOut(OutModel):
    report_id: str
    print_count: int
    prints: list[PrintRecordOut]


# ---- views shared by the service and printing -------------------------------------------

def item_out(item: dict[str, Any]) -> ItemOut:
    flag = item.get("flag")
    return ItemOut(code=item["code"], name=item["name"], value=item["value"], unit=item.get("unit", ""),
                   reference_range=item.get("range", ""), flag=flag,
                   flag_label=LABELS.get(flag or "", ""), hint=HINTS.get(flag or "", ""),
                   abnormal=is_abnormal(flag), critical=is_critical(flag))


def sorted_items(items: list[dict[str, Any]]) -> list[ItemOut]:
    """Critical first, then abnormal, then normal; the LIS order within each group."""
    return [item_out(i) for i in sorted(items, key=lambda i: severity(i.get("flag")))]


def verify_code(doc: dict[str, Any]) -> str:
    """A short code printed on paper and shown by the verify page (content fingerprint)."""
    return doc["content_hash"][:10].upper()


def mask_card(card: str | None) -> str:
    """88001234 → 88**1234: enough for the patient to recognise their card."""
    if not card:
        return ""
    return card[:2] + "*" * max(0, len(card) - 6) + card[-4:] if len(card) > 6 else "*" * len(card)
