"""Printing and verifying reports: the kiosk's A4 PDF and the public verify page behind its
QR code (a mixin of ReportsService, which owns the `reports` collection)."""

from __future__ import annotations

import asyncio
from typing import Any

from bson import ObjectId

from services.crypto import mask_name
from services.clock import format_local
from services.errors import NotFound
from services.reports.flags import ARROWS
from services.reports.models import KIND_LABELS, STATUS_LABELS, mask_card, sorted_items, verify_code

VERIFY_PURPOSE = "report_verify"


class ReportPrinting:
    """Needs: reports, identity, signer, cipher, clock, config, public_url, hospital_name."""

    reports: Any
    identity: Any
    signer: Any
    cipher: Any
    clock: Any
    config: Any
    public_url: str
    hospital_name: str

    def verify_url(self, doc: dict[str, Any]) -> str:
        token = self.signer.sign(VERIFY_PURPOSE, {"r": str(doc["_id"]), "v": doc["version"],
                                                  "h": doc["content_hash"][:16]}, None)
        return f"{self.public_url}/h5/reports/verify/{token}"

    async def render_pdf(self, doc: dict[str, Any], printed_by: str) -> bytes:
        """The A4 report (off the event loop: font subsetting takes a moment)."""
        from services.reports.pdf import PdfReport, render

        patient = await self.identity.get_patient(doc["patient_id"])
        full = await self.reports.find_one({"_id": doc["_id"]}, {"prints": 0, "history": 0})
        assert full is not None
        now = self.clock.now()
        age = patient.age_on(now.date())
        card = patient.hospital_card_no or self.cipher.decrypt(full.get("card_no"), aad="hospital_card_no")
        view = PdfReport(
            hospital=self.hospital_name, kind=full["kind"], title=full["title"],
            status=full["status"], version=full["version"], report_no=full["source_id"],
            patient_name=patient.masked_name,
            sex={"male": "男", "female": "女"}.get(patient.sex or "", ""),
            age=f"{age}岁" if age is not None else "",
            card_no=mask_card(card), department=full.get("department", ""),
            specimen=full.get("specimen", ""),
            collected_at=format_local(full["collected_at"]) if full.get("collected_at") else "",
            reported_at=format_local(full["reported_at"]) if full.get("reported_at") else "",
            items=[(i.name, i.value, f"{ARROWS.get(i.flag or '', '')} {i.flag_label}".strip()
                    if i.abnormal else "", i.unit, i.reference_range, i.abnormal)
                   for i in sorted_items(full.get("items") or [])],
            exam=full.get("exam"), amendment_note=full.get("amendment_note", ""),
            verify_url=self.verify_url(full), verify_code=verify_code(full),
            footer=f"打印时间 {format_local(now)} · {printed_by} · 第 {doc.get('print_count', 1)} 次打印")
        return await asyncio.to_thread(render, view, self.config)

    async def verify(self, token: str) -> dict[str, Any]:
        """What the public verify page shows: masked data and whether the paper is genuine."""
        data = self.signer.verify(VERIFY_PURPOSE, token, now=self.clock.now().timestamp())
        if data is None or not ObjectId.is_valid(str(data.get("r", ""))):
            raise NotFound("verify_token_invalid", "验证码无效，此报告不是本院出具的")
        doc = await self.reports.find_one({"_id": ObjectId(data["r"])}, {"prints": 0})
        if doc is None:
            raise NotFound("verify_token_invalid", "验证码无效，此报告不是本院出具的")
        version = data.get("v")
        if version == doc["version"]:
            shown = doc
        else:
            shown = next((h for h in doc.get("history", []) if h["version"] == version), None)
            if shown is None:
                raise NotFound("verify_token_invalid", "验证码无效，此报告不是本院出具的")
        masked = ""
        if doc.get("patient_id"):
            masked = (await self.identity.get_patient(doc["patient_id"])).masked_name
        elif doc.get("patient_name"):
            masked = mask_name(self.cipher.decrypt(doc["patient_name"], aad="patient_name"))
        return {
            "genuine": shown["content_hash"][:16] == data.get("h"),
            "latest": version == doc["version"], "current_version": doc["version"],
            "version": version, "title": doc["title"], "kind_label": KIND_LABELS[doc["kind"]],
            "report_no": doc["source_id"], "patient_name": masked,
            "department": doc.get("department", ""),
            "reported_at": format_local(shown["reported_at"]) if shown.get("reported_at") else "",
            "status_label": STATUS_LABELS[shown["status"]], "verify_code": shown["content_hash"][:10].upper(),
            "item_count": len(shown.get("items") or []),
        }


