"""The hospital side of a patient's identity: hospital cards from the HIS, and the
patient's own view of who accessed their data.

Binding a hospital card (就诊卡号): the hospital's HIS is the authority. When the HIS
registers (建档) or recognises a person at a counter, kiosk or its own app, it pushes
`POST /api/v1/his/patients/bind-card {document_type, document_number, name, card_no}`
as a signed device request (device kind "his"). We bind the card to every family-member
record of that person (same document blind index AND same name, so a typo in either
binds nothing) and remember it, so a member added later is bound at once. The patient
never types a card number: a self-declared number is exactly what a hospital cannot
trust. Each binding is audited, so the patient sees "医院信息系统 … 绑定就诊卡".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from services.actors import Actor
from services.audit import AccessLogEntry, AuditService
from services.clock import format_local
from services.identity.idcard import parse_id_card
from services.identity.patients import DocumentType
from services.identity.service import IdentityService
from services.models import ApiModel, OutModel

# What patients read for each audited action (other domains add theirs here).
ACTION_LABELS = {
    "visit_code.resolve": "扫描就诊码识别身份",
    "his.bind_card": "绑定就诊卡",
    "patient.read": "查看就诊人信息",
    "kiosk.open_session": "自助机识别身份并列出报告",
    "kiosk.list_reports": "自助机查询报告",
    "kiosk.print_report": "自助机打印报告",
    "kiosk.list_receipts": "自助机查询缴费票据",
    "billing.print_receipt": "打印缴费票据",
    "report.export_fhir": "医院信息系统导出报告",
    "report.print_history": "工作人员查看报告打印记录",
}


class HisBindCardIn(ApiModel):
    document_type: DocumentType = "id_card"
    document_number: str = Field(min_length=5, max_length=30)
    name: str = Field(min_length=1, max_length=30)
    card_no: str = Field(pattern=r"^[A-Za-z0-9-]{4,32}$")

    @field_validator("document_number")
    @classmethod
    def _check_number(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().upper()
        if info.data.get("document_type", "id_card") == "id_card":
            parse_id_card(value)
        return value


class HisBindCardOut(OutModel):
    card_no: str
    bound: int          # family-member records now carrying the card
    remembered: bool    # kept for members added later


class RecordsService:
    def __init__(self, identity: IdentityService, audit: AuditService):
        self.identity = identity
        self.audit = audit

    async def bind_card_from_his(self, actor: Actor, body: HisBindCardIn, ip: str | None = None,
                                 request_id: str | None = None) -> HisBindCardOut:
        """The HIS tells us a person's hospital card number: bind it and audit each binding."""
        bound = await self.identity.register_his_card(body.card_no, body.document_type,
                                                      body.document_number, body.name)
        for patient_id in bound:
            await self.audit.record(actor, "his.bind_card", patient_id=patient_id,
                                    details={"card_no": body.card_no}, ip=ip, request_id=request_id)
        return HisBindCardOut(card_no=body.card_no, bound=len(bound), remembered=True)

    async def access_log(self, account_id: str, patient_id: str,
                         limit: int = 100) -> list[AccessLogEntry]:
        """Who (staff or device, masked) accessed one of the account's family members, newest first."""
        record = await self.identity.get_patient_for_account(account_id, patient_id)
        entries = await self.audit.access_log(record.id, limit)
        return [_entry(e) for e in entries]


def _entry(entry: dict[str, Any]) -> AccessLogEntry:
    at: datetime = entry["at"]
    action = entry.get("action", "")
    return AccessLogEntry(at=format_local(at, "%Y-%m-%d %H:%M"),
                          who=entry.get("actor_label") or "医院工作人员",
                          action=ACTION_LABELS.get(action, "访问就诊信息"), details=None)
