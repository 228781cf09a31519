"""Self-service kiosks (自助机): a short session for ONE patient, opened by scanning the
patient's visit code (就诊码) or swiping a hospital card, then listing and printing.

Kiosks are devices (signed requests, handlers/auth.py `device("kiosk")`); the session
token is a second factor that names the patient: without it a kiosk can list nobody.
Collection `kiosk_sessions` (owned here):
    {_id, token_hash (unique), kiosk_id, patient_id, opened_at, expires_at (TTL), closed_at}
Every read and print is written to the audit log with the patient's id, so it shows in
the patient's access log (services/audit.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, model_validator
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from services.actors import Actor
from services.clock import Clock
from services.errors import BusinessRuleViolation, NotFound
from services.identity.limits import WindowCounter
from services.models import ApiModel, OutModel
from services.reports.models import ReportSummary
from services.reports.models import mask_card

if TYPE_CHECKING:
    from services.audit import AuditService
    from services.identity import IdentityService
    from services.reports import ReportsService


MINUTE = timedelta(minutes=1)


class KioskConfig(BaseModel):
    session_seconds: int = 180          # a kiosk session ends this long after the last use
    max_session_seconds: int = 900      # ...and at the latest this long after it opened
    idle_logout_seconds: int = 60       # the kiosk page returns to the start screen
    print_dialog: bool = True           # the page calls print() on the PDF (silent with --kiosk-printing)
    failed_lookups_per_minute: int = 20  # unknown cards / bad codes per kiosk: stops enumeration


class KioskOpenIn(ApiModel):
    visit_code: str | None = Field(default=None, min_length=10, max_length=600)
    card_no: str | None = Field(default=None, min_length=4, max_length=32, pattern=r"^[0-9A-Za-z-]+$")

    @model_validator(mode="after")
    def _one_of(self) -> KioskOpenIn:
        if bool(self.visit_code) == bool(self.card_no):
            raise ValueError("请扫描就诊码或刷就诊卡（二选一）")
        return self


class KioskPatientOut(OutModel):
    name: str                 # masked
    card_no: str = ""         # masked


class KioskReceiptOut(OutModel):
    bill_id: str
    receipt_no: str
    title: str
    amount: str               # "¥56.60", what was paid in total (insurance included)
    paid_at: datetime | None = None


class KioskSessionOut(OutModel):
    token: str
    expires_at: datetime
    idle_seconds: int
    patient: KioskPatientOut
    reports: list[ReportSummary]
    receipts: list[KioskReceiptOut] = Field(default_factory=list)
    receipts_available: bool = False    # false when billing is not part of this deployment


class KioskReceiptPrintIn(ApiModel):
    bill_id: str = Field(min_length=1, max_length=40)


class KioskPrintIn(ApiModel):
    report_id: str = Field(min_length=1, max_length=40)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_invalid() -> BusinessRuleViolation:
    return BusinessRuleViolation("kiosk_session_invalid", "请先扫描就诊码或刷就诊卡")


class KioskService:
    def __init__(self, db: AsyncDatabase, clock: Clock, identity: IdentityService,
                 reports: ReportsService, audit: AuditService, config: KioskConfig,
                 billing: Any = None):
        self.sessions = db["kiosk_sessions"]
        self.used_codes = db["kiosk_used_visit_codes"]
        self.clock = clock
        self.identity = identity
        self.reports = reports
        self.audit = audit
        self.config = config
        self.billing = billing          # services.billing.BillingService: paid receipts
        self.limits = WindowCounter(db["kiosk_limits"])

    async def ensure_indexes(self) -> None:
        await self.limits.ensure_indexes()
        await self.sessions.create_index("token_hash", unique=True)
        await self.sessions.create_index("expires_at", expireAfterSeconds=3600)
        await self.used_codes.create_index("used_at", expireAfterSeconds=3600)   # GC only

    async def open_session(self, kiosk: Actor, body: KioskOpenIn, *, ip: str = "",
                           request_id: str = "") -> KioskSessionOut:
        """Resolve the visit code or card to one patient and open a short session for them."""
        now = self.clock.now()
        limit, message = self.config.failed_lookups_per_minute, "识别失败次数过多，请稍后再试"
        await self.limits.check("kiosk_fail", str(kiosk.id), limit, MINUTE, now, message)
        try:
            patient, via = await self._identify(body)
        except BusinessRuleViolation:
            await self.limits.hit("kiosk_fail", str(kiosk.id), limit, MINUTE, now, message)
            raise
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=self.config.session_seconds)
        result = await self.sessions.insert_one({
            "token_hash": _hash(token), "kiosk_id": kiosk.id, "patient_id": patient.id,
            "opened_at": now, "expires_at": expires,
            "hard_expires_at": now + timedelta(seconds=self.config.max_session_seconds),
            "closed_at": None})
        reports = await self.reports.printable_for_patient(patient.id)
        receipts = await self._receipts(patient.id)
        await self.audit.record(kiosk, "kiosk.open_session", patient_id=patient.id, ip=ip,
                                request_id=request_id,
                                details={"via": via, "session_id": str(result.inserted_id),
                                         "reports_listed": len(reports),
                                         "receipts_listed": len(receipts)})
        return KioskSessionOut(token=token, expires_at=expires,
                               idle_seconds=self.config.idle_logout_seconds,
                               patient=KioskPatientOut(name=patient.masked_name,
                                                       card_no=mask_card(patient.hospital_card_no)),
                               reports=reports, receipts=receipts,
                               receipts_available=self.billing is not None)

    async def _identify(self, body: KioskOpenIn) -> tuple[Any, str]:
        if body.visit_code:
            patient = await self.identity.resolve_visit_code(body.visit_code)
            await self._spend_visit_code(body.visit_code)
            return patient, "visit_code"
        assert body.card_no
        found = await self.identity.find_patient_by_card(body.card_no)
        if found is None:
            raise BusinessRuleViolation("card_unknown", "未找到该就诊卡，请到服务台办理")
        return found, "card"

    async def _spend_visit_code(self, code: str) -> None:
        """A visit code opens one kiosk session: a photographed code must not print twice.

        The unique `_id` makes two kiosks racing on one code open one session between them;
        the code's own 5-minute expiry (checked by resolve_visit_code) bounds how long the
        record matters, the TTL index only collects it."""
        try:
            await self.used_codes.insert_one({"_id": _hash(code.strip()), "used_at": self.clock.now()})
        except DuplicateKeyError:
            raise BusinessRuleViolation("visit_code_used",
                                        "该就诊码已使用过，请在手机上刷新就诊码后重新扫描") from None

    async def _session(self, kiosk: Actor, token: str | None) -> dict[str, Any]:
        """The live session of this kiosk for the token (renewed on use)."""
        if not token:
            raise session_invalid()
        now = self.clock.now()
        session = await self.sessions.find_one({"token_hash": _hash(token)})
        if (session is None or session["kiosk_id"] != kiosk.id or session["closed_at"] is not None
                or session["expires_at"] <= now or session["hard_expires_at"] <= now):
            raise BusinessRuleViolation("kiosk_session_invalid", "操作超时，请重新扫描就诊码")
        renewed = min(now + timedelta(seconds=self.config.session_seconds), session["hard_expires_at"])
        await self.sessions.update_one({"_id": session["_id"], "closed_at": None},
                                       {"$set": {"expires_at": renewed}})
        return session

    async def patient_for_session(self, kiosk: Actor, token: str | None) -> str:
        """The patient id of this kiosk's live session (for other kiosk features, e.g. receipts)."""
        return (await self._session(kiosk, token))["patient_id"]

    async def list_reports(self, kiosk: Actor, token: str | None, *, ip: str = "",
                           request_id: str = "") -> list[ReportSummary]:
        """The session patient's printable reports (audited)."""
        session = await self._session(kiosk, token)
        reports = await self.reports.printable_for_patient(session["patient_id"])
        await self.audit.record(kiosk, "kiosk.list_reports", patient_id=session["patient_id"],
                                ip=ip, request_id=request_id,
                                details={"session_id": str(session["_id"]), "count": len(reports)})
        return reports

    async def print_report(self, kiosk: Actor, token: str | None, report_id: str, *, ip: str = "",
                           request_id: str = "") -> tuple[bytes, int]:
        """Count the print (reprint policy), audit it and render the PDF; returns (pdf, count)."""
        session = await self._session(kiosk, token)
        doc = await self.reports.record_print(session["patient_id"], report_id, kiosk)
        await self.audit.record(kiosk, "kiosk.print_report", patient_id=session["patient_id"],
                                ip=ip, request_id=request_id,
                                details={"session_id": str(session["_id"]), "report_id": report_id,
                                         "title": doc["title"], "version": doc["version"],
                                         "print_count": doc["print_count"]})
        pdf = await self.reports.render_pdf(doc, kiosk.label or "自助机")
        return pdf, doc["print_count"]

    async def _receipts(self, patient_id: str) -> list[KioskReceiptOut]:
        """Paid bills with an issued receipt (电子票据), newest first (billing's own API)."""
        if self.billing is None:
            return []
        from services.billing.models import yuan

        patient = await self.identity.get_patient(patient_id)
        bills = await self.billing.list_bills(patient.account_id, patient.id)
        return [KioskReceiptOut(bill_id=b.id, receipt_no=b.receipt_no, title=b.title,
                                amount=yuan(b.total_fen), paid_at=b.paid_at)
                for b in bills if b.receipt_no and b.status in ("paid", "partially_refunded")]

    async def list_receipts(self, kiosk: Actor, token: str | None, *, ip: str = "",
                            request_id: str = "") -> list[KioskReceiptOut]:
        """The session patient's paid receipts (audited)."""
        session = await self._session(kiosk, token)
        receipts = await self._receipts(session["patient_id"])
        await self.audit.record(kiosk, "kiosk.list_receipts", patient_id=session["patient_id"],
                                ip=ip, request_id=request_id,
                                details={"session_id": str(session["_id"]), "count": len(receipts)})
        return receipts

    async def receipt_for_session(self, kiosk: Actor, token: str | None, bill_id: str):
        """The session patient's receipt data; another patient's bill is not found (billing audits)."""
        session = await self._session(kiosk, token)
        mine = {r.bill_id for r in await self._receipts(session["patient_id"])}
        if self.billing is None or bill_id not in mine:
            raise NotFound("receipt_not_found", "未找到该缴费票据")
        return await self.billing.receipt_for_device(kiosk, bill_id)

    async def print_receipt(self, kiosk: Actor, token: str | None, bill_id: str) -> bytes:
        """The session patient's receipt as an A4 PDF (billing audits the read)."""
        receipt = await self.receipt_for_session(kiosk, token, bill_id)
        from services.reports.pdf import render_receipt
        return await asyncio.to_thread(render_receipt, receipt.model_dump(), kiosk.label or "自助机",
                                       self.reports.config)

    async def close(self, kiosk: Actor, token: str | None) -> None:
        """End the session (the patient pressed 退出, or the page went idle)."""
        if not token:
            return
        await self.sessions.find_one_and_update(
            {"token_hash": _hash(token), "kiosk_id": kiosk.id, "closed_at": None},
            {"$set": {"closed_at": self.clock.now()}}, return_document=ReturnDocument.AFTER)
