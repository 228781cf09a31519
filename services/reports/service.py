"""Reports (报告查询): ingestion from the LIS/PACS, patient reads, kiosk prints, verification.

Collection `reports` (owned here), one document per source report:
    {_id, source, source_id (unique together), kind lab|exam, status pending|final|amended,
     version, patient_id (str|None), card_bidx, card_no: enc, patient_name: enc,
     title, department, specimen, collected_at, reported_at, sort_at,
     items: [{code, name, value, unit, range, low, high, crit_low, crit_high, flag}],
     exam: {exam, body_part, findings, impression}, amendment_note, content_hash,
     abnormal_count, critical_count, history: [earlier final versions],
     print_count, prints: [{at, by, by_id, version, count}], received_at, updated_at}
Every state change is one conditional update on (version, content_hash, status), so two
deliveries of the same report race safely; an amendment pushes the earlier version onto
`history` in the same update. Messages (report_ready, critical_value) are derived from the
stored state with dedup keys, so a retried delivery re-sends nothing and a crash between
the write and the message is healed by the retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.actors import Actor
from services.clock import Clock
from services.crypto import FieldCipher, TokenSigner
from services.errors import BusinessRuleViolation, Conflict, InvalidRequest, NotFound
from services.reports import fhir
from services.reports.printing import ReportPrinting
from services.reports.flags import (
    ReferenceRange,
    compute_flag,
    is_abnormal,
    is_critical,
)
from services.reports.models import (
    sorted_items, verify_code,
    KIND_LABELS,
    STATUS_LABELS,
    ExamOut,
    HisReportIn,
    IngestResult,
    PrintHistoryOut,
    PrintRecordOut,
    ReportOut,
    ReportSummary,
    VersionOut,
)

if TYPE_CHECKING:
    from services.audit import AuditService
    from services.identity import IdentityService
    from services.identity.patients import PatientRecord

log = logging.getLogger("palm.reports")

_CONTENT_FIELDS = ("kind", "title", "department", "specimen", "collected_at", "reported_at",
                   "items", "exam")


# What a list row needs (see `_summary`): a list no longer fetches and decodes every
# report's items, history and print log only to drop them (profile: bson decoding of the
# item lists was the list's top CPU cost after the socket).
_SUMMARY_FIELDS = {f: 1 for f in ("patient_id", "kind", "title", "department", "status", "version",
                                  "reported_at", "collected_at", "abnormal_count", "critical_count",
                                  "print_count")}

class ReportsConfig(BaseModel):
    pdf_font: str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    pdf_font_index: int = 2              # Noto Sans CJK SC inside the collection
    reprint_allowed: bool = True
    max_prints_per_report: int = 0       # 0: no limit
    notify_pending_critical: bool = True  # 危急值 in a preliminary report: tell at once


def report_not_found() -> NotFound:
    return NotFound("report_not_found", "未找到该报告")


def _oid(report_id: str) -> ObjectId:
    if not ObjectId.is_valid(report_id):
        raise report_not_found()
    return ObjectId(report_id)


def _item_doc(item: Any) -> dict[str, Any]:
    ref = ReferenceRange.parse(item.reference_range, item.ref_low, item.ref_high)
    flag = item.flag
    computed = compute_flag(item.value, ref, item.critical_low, item.critical_high)
    if flag is None:
        flag = computed
    elif flag == "AA" and computed in ("H", "HH"):
        flag = "HH"   # "危急" without a direction: the range tells which way
    elif flag == "AA" and computed in ("L", "LL"):
        flag = "LL"
    return {"code": item.code, "name": item.name, "value": item.value.strip(), "unit": item.unit,
            "range": ref.text, "low": ref.low, "high": ref.high, "crit_low": item.critical_low,
            "crit_high": item.critical_high, "flag": flag}


def _content(body: HisReportIn) -> dict[str, Any]:
    return {
        "kind": body.kind, "title": body.title, "department": body.department,
        "specimen": body.specimen, "collected_at": body.collected_at, "reported_at": body.reported_at,
        "items": [_item_doc(i) for i in body.items] if body.kind == "lab" else [],
        "exam": body.exam.model_dump() if body.kind == "exam" and body.exam else None,
    }


def _hash(content: dict[str, Any]) -> str:
    canonical = json.dumps({k: content[k] for k in _CONTENT_FIELDS}, sort_keys=True,
                           ensure_ascii=False, default=lambda v: v.isoformat())
    return hashlib.sha256(canonical.encode()).hexdigest()


def _counts(items: list[dict[str, Any]]) -> dict[str, int]:
    return {"abnormal_count": sum(is_abnormal(i["flag"]) for i in items),
            "critical_count": sum(is_critical(i["flag"]) for i in items)}


class ReportsService(ReportPrinting):
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher, signer: TokenSigner,
                 identity: IdentityService, notify: Any, audit: AuditService,
                 config: ReportsConfig, public_url: str, hospital_name: str):
        self.reports = db["reports"]
        self.clock = clock
        self.cipher = cipher
        self.signer = signer
        self.identity = identity
        self.notify = notify
        self.audit = audit
        self.config = config
        self.public_url = public_url.rstrip("/")
        self.hospital_name = hospital_name

    async def ensure_indexes(self) -> None:
        await self.reports.create_index([("source", ASCENDING), ("source_id", ASCENDING)], unique=True)
        await self.reports.create_index([("patient_id", ASCENDING), ("sort_at", DESCENDING)])
        await self.reports.create_index("card_bidx")

    # ---- ingestion ------------------------------------------------------------------

    async def _resolve_patient(self, body: HisReportIn) -> PatientRecord | None:
        if body.patient_id:
            try:
                return await self.identity.get_patient(body.patient_id)
            except NotFound:
                raise BusinessRuleViolation("patient_unknown", "未找到该患者，请核对患者编号") from None
        assert body.hospital_card_no
        return await self.identity.find_patient_by_card(body.hospital_card_no)

    async def ingest(self, body: HisReportIn) -> IngestResult:
        """Store one pushed report: idempotent by (source, report_id), amendments keep history."""
        patient = await self._resolve_patient(body)
        content = _content(body)
        digest = _hash(content)
        for _attempt in range(5):
            doc = await self.reports.find_one({"source": body.source, "source_id": body.report_id})
            if doc is None:
                doc = self._new_doc(body, content, digest, patient)
                try:
                    await self.reports.insert_one(doc)
                except DuplicateKeyError:
                    continue  # the same report arrived twice at once: take the other path
                outcome = "created"
            else:
                changed = await self._apply(doc, body, content, digest, patient)
                if changed is None:
                    continue   # it changed under us: read again
                doc, outcome = changed
            await self._announce(doc)
            return IngestResult(id=str(doc["_id"]), status=doc["status"], version=doc["version"],
                                outcome=outcome, linked=doc.get("patient_id") is not None)
        raise Conflict("report_busy", "报告正在更新，请稍后重试")

    def _new_doc(self, body: HisReportIn, content: dict[str, Any], digest: str,
                 patient: PatientRecord | None) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "_id": ObjectId(), "source": body.source, "source_id": body.report_id,
            "status": body.status, "version": 1, "content_hash": digest,
            **self._patient_fields(body, patient), **content, **_counts(content["items"]),
            "sort_at": content["reported_at"] or content["collected_at"] or now,
            "amendment_note": body.amendment_note if body.status == "amended" else "",
            "history": [], "print_count": 0, "prints": [], "received_at": now, "updated_at": now,
        }

    def _patient_fields(self, body: HisReportIn, patient: PatientRecord | None) -> dict[str, Any]:
        card = body.hospital_card_no or (patient.hospital_card_no if patient else None)
        return {
            "patient_id": patient.id if patient else None,
            "card_bidx": self.cipher.blind_index(card, "hospital_card") if card else None,
            "card_no": self.cipher.encrypt(card, aad="hospital_card_no"),
            "patient_name": self.cipher.encrypt(body.patient_name, aad="patient_name"),
        }

    async def _apply(self, doc: dict[str, Any], body: HisReportIn, content: dict[str, Any],
                     digest: str, patient: PatientRecord | None
                     ) -> tuple[dict[str, Any], str] | None:
        """The transition table; None when the document changed between read and write."""
        current, incoming = doc["status"], body.status
        link: dict[str, Any] = {}
        if patient is not None and doc.get("patient_id") is None:
            link = {"patient_id": patient.id}
        elif patient is not None and patient.id != doc["patient_id"]:
            # moving a report to another person silently would show it to the wrong family
            raise Conflict("patient_mismatch", "报告所属患者与原报告不一致，请核对后以新报告号重新发送")
        same = digest == doc["content_hash"]
        stale = any(old["content_hash"] == digest for old in doc.get("history", []))
        now = self.clock.now()
        update: dict[str, Any]
        if (same and (incoming == current or (current == "amended" and incoming == "final"))) or \
                (stale and incoming != "pending"):
            if not link:
                return doc, "unchanged"   # a retry, or a late copy of an earlier version
            update, outcome = {"$set": link}, "unchanged"
        elif current == "pending":
            update = {"$set": {**content, **_counts(content["items"]), **link, "status": incoming,
                               "content_hash": digest, "updated_at": now,
                               "sort_at": content["reported_at"] or doc["sort_at"],
                               "amendment_note": body.amendment_note if incoming == "amended" else ""}}
            outcome = "updated"
        elif incoming == "pending":
            raise Conflict("report_already_final", "报告已发布，不能退回检查中状态")
        elif incoming == "final":
            raise Conflict("amendment_required", "报告已发布，修改内容请以更正报告（amended）发送")
        else:
            snapshot = {k: doc.get(k) for k in (*_CONTENT_FIELDS, "version", "status",
                                                "content_hash", "amendment_note")}
            snapshot["replaced_at"] = now
            update = {"$set": {**content, **_counts(content["items"]), **link, "status": "amended",
                               "content_hash": digest, "amendment_note": body.amendment_note,
                               "updated_at": now,
                               "sort_at": content["reported_at"] or doc["sort_at"]},
                      "$inc": {"version": 1}, "$push": {"history": snapshot}}
            outcome = "amended"
        after = await self.reports.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"], "status": current,
             "content_hash": doc["content_hash"]},
            update, return_document=ReturnDocument.AFTER)
        return None if after is None else (after, outcome)

    async def import_history(self, bodies: list[HisReportIn]) -> int:
        """Load past reports in bulk (go-live migration): no messages; known ones are skipped."""
        docs = []
        for body in bodies:
            content = _content(body)
            docs.append(self._new_doc(body, content, _hash(content), await self._resolve_patient(body)))
        inserted = 0
        for start in range(0, len(docs), 200):
            try:
                result = await self.reports.insert_many(docs[start:start + 200], ordered=False)
                inserted += len(result.inserted_ids)
            except BulkWriteError as error:   # some were already there: keep the rest
                inserted += error.details.get("nInserted", 0)
        return inserted

    async def ingest_fhir(self, raw: bytes) -> list[IngestResult]:
        """Map a FHIR R4 Bundle (DiagnosticReport + Observation) and ingest each report."""
        return [await self.ingest(body) for body in fhir.parse_bundle(raw)]

    async def export_fhir(self, report_id: str, actor: Actor, *, ip: str = "",
                          request_id: str = "") -> dict[str, Any]:
        """One report as a FHIR R4 Bundle (for the HIS and round-trip checks; audited)."""
        doc = await self.reports.find_one({"_id": _oid(report_id)})
        if doc is None:
            raise report_not_found()
        await self.audit.record(actor, "report.export_fhir", patient_id=doc.get("patient_id"),
                                ip=ip, request_id=request_id, details={"report_id": report_id})
        card = self.cipher.decrypt(doc.get("card_no"), aad="hospital_card_no")
        return fhir.to_bundle(doc, doc.get("patient_id"), card)

    # ---- messages -------------------------------------------------------------------

    async def _announce(self, doc: dict[str, Any]) -> None:
        """report_ready once per final version, critical_value at once (dedup keys)."""
        if doc.get("patient_id") is None or self.notify is None:
            return
        try:
            await self._send_messages(doc)
        except InvalidRequest as error:
            # a patient we cannot reach (no phone, no WeChat): the report stays stored and
            # readable; the ward's own critical-value call-back process still applies
            log.warning("report %s: message not queued (%s)", doc["_id"], error.code)

    async def _send_messages(self, doc: dict[str, Any]) -> None:
        wants_ready = doc["status"] in ("final", "amended")
        wants_critical = doc.get("critical_count", 0) > 0 and (
            wants_ready or self.config.notify_pending_critical)
        if not (wants_ready or wants_critical):
            return
        patient = await self.identity.get_patient(doc["patient_id"])
        recipient = await self.identity.contact_for_patient(doc["patient_id"])
        rid, version = str(doc["_id"]), doc["version"]
        title = doc["title"] + ("（更正）" if doc["status"] == "amended" else "")
        if wants_critical:
            critical = [i for i in doc["items"] if is_critical(i["flag"])]
            names = "、".join(f"{i['name']} {i['value']}{i.get('unit', '')}" for i in critical)
            # the same critical values are told once, whichever version carries them
            seen = hashlib.sha256(json.dumps(sorted((i["code"], i["value"]) for i in critical),
                                             ensure_ascii=False).encode()).hexdigest()[:16]
            await self.notify.send("report.critical_value", recipient, "critical_value",
                                   {"patient": patient.masked_name, "report": title, "item": names},
                                   dedup_key=f"critical_value:{rid}:{seen}", urgent=True)
        if wants_ready:
            await self.notify.send("report.ready", recipient, "report_ready",
                                   {"patient": patient.masked_name, "report": title,
                                    "link": f"{self.public_url}/h5/reports/{rid}"},
                                   dedup_key=f"report_ready:{rid}:v{version}")

    # ---- patient reads --------------------------------------------------------------

    async def _link_by_card(self, patients: list[PatientRecord]) -> None:
        """Reports that arrived before the card was bound to a patient join them now."""
        for patient in patients:
            if not patient.hospital_card_no:
                continue
            bidx = self.cipher.blind_index(patient.hospital_card_no, "hospital_card")
            if await self.reports.find_one({"card_bidx": bidx, "patient_id": None}, {"_id": 1}):
                await self.reports.update_many({"card_bidx": bidx, "patient_id": None},
                                               {"$set": {"patient_id": patient.id}})
                async for doc in self.reports.find({"card_bidx": bidx, "patient_id": patient.id}):
                    await self._announce(doc)

    async def list_for_account(self, account_id: str, patient_id: str | None) -> list[ReportSummary]:
        """The reports of one family member (or of the whole family), newest first."""
        if patient_id:
            patients = [await self.identity.get_patient_for_account(account_id, patient_id)]
        else:
            patients = await self.identity.list_patients(account_id)
        await self._link_by_card(patients)
        names = {p.id: p.masked_name for p in patients}
        docs = await self.reports.find(
            {"patient_id": {"$in": list(names)}}, _SUMMARY_FIELDS
        ).sort([("sort_at", DESCENDING)]).limit(200).to_list()
        return [self._summary(d, names.get(d["patient_id"], "")) for d in docs]

    async def get_for_account(self, account_id: str, report_id: str) -> ReportOut:
        """One report of the account's family; another account's report is not found."""
        doc = await self.reports.find_one({"_id": _oid(report_id)}, {"prints": 0})
        if doc is None or doc.get("patient_id") is None:
            raise report_not_found()
        try:
            patient = await self.identity.get_patient_for_account(account_id, doc["patient_id"])
        except NotFound:
            raise report_not_found() from None
        return self.report_out(doc, patient.masked_name)

    def _summary(self, doc: dict[str, Any], masked_name: str) -> ReportSummary:
        return ReportSummary(
            id=str(doc["_id"]), patient_id=doc.get("patient_id"), patient_name=masked_name,
            kind=doc["kind"], kind_label=KIND_LABELS[doc["kind"]], title=doc["title"],
            department=doc.get("department", ""), status=doc["status"],
            status_label=STATUS_LABELS[doc["status"]], version=doc["version"],
            reported_at=doc.get("reported_at"), collected_at=doc.get("collected_at"),
            abnormal_count=doc.get("abnormal_count", 0), critical_count=doc.get("critical_count", 0),
            print_count=doc.get("print_count", 0))

    def report_out(self, doc: dict[str, Any], masked_name: str) -> ReportOut:
        """The full view: abnormal items first, the amendment note, earlier versions."""
        pending = doc["status"] == "pending"
        note = ""
        if doc["status"] == "amended":
            note = f"此报告已更正，显示的是最新版本（第 {doc['version']} 版）"
            if doc.get("amendment_note"):
                note += f"。更正说明：{doc['amendment_note']}"
        exam = doc.get("exam")
        return ReportOut(
            **self._summary(doc, masked_name).model_dump(), report_no=doc["source_id"],
            specimen=doc.get("specimen", ""),
            items=[] if pending else sorted_items(doc.get("items") or []),
            exam=ExamOut(**exam) if exam and not pending else None,
            results_available=not pending, amendment_note=doc.get("amendment_note", ""), note=note,
            previous_versions=[VersionOut(version=h["version"], status=h["status"],
                                          reported_at=h.get("reported_at"), replaced_at=h["replaced_at"])
                               for h in doc.get("history", [])],
            verify_code=verify_code(doc))

    # ---- kiosk and staff --------------------------------------------------------------

    async def printable_for_patient(self, patient_id: str) -> list[ReportSummary]:
        """Final or amended reports of one patient (what a kiosk may print)."""
        patient = await self.identity.get_patient(patient_id)
        await self._link_by_card([patient])
        docs = await self.reports.find(
            {"patient_id": patient_id, "status": {"$in": ["final", "amended"]}},
            _SUMMARY_FIELDS).sort([("sort_at", DESCENDING)]).limit(100).to_list()
        return [self._summary(d, patient.masked_name) for d in docs]

    async def record_print(self, patient_id: str, report_id: str, actor: Actor) -> dict[str, Any]:
        """Count one print of a patient's final report (reprint policy in one update)."""
        query: dict[str, Any] = {"_id": _oid(report_id), "patient_id": patient_id,
                                 "status": {"$in": ["final", "amended"]}}
        limit = 1 if not self.config.reprint_allowed else self.config.max_prints_per_report
        if limit:
            query["print_count"] = {"$lt": limit}
        now = self.clock.now()
        doc = await self.reports.find_one({k: v for k, v in query.items() if k != "print_count"},
                                          {"version": 1, "print_count": 1})
        if doc is None:
            raise report_not_found()
        after = await self.reports.find_one_and_update(
            query, {"$inc": {"print_count": 1},
                    "$push": {"prints": {"at": now, "by": actor.label, "by_id": actor.id,
                                         "version": doc["version"]}}},
            projection={"prints": 0}, return_document=ReturnDocument.AFTER)
        if after is None:
            raise BusinessRuleViolation("reprint_not_allowed", "该报告已打印过，如需补打请到服务台办理",
                                        details={"print_count": doc["print_count"]})
        return after

    async def print_history(self, report_id: str, actor: Actor, *, ip: str = "",
                            request_id: str = "") -> PrintHistoryOut:
        """Who printed a report, when and how many times (staff view; audited)."""
        doc = await self.reports.find_one({"_id": _oid(report_id)},
                                          {"prints": 1, "print_count": 1, "patient_id": 1})
        if doc is None:
            raise report_not_found()
        await self.audit.record(actor, "report.print_history", patient_id=doc.get("patient_id"),
                                ip=ip, request_id=request_id, details={"report_id": report_id})
        return PrintHistoryOut(report_id=report_id, print_count=doc.get("print_count", 0),
                               prints=[PrintRecordOut(at=p["at"], by=p["by"], version=p["version"], count=n)
                                       for n, p in enumerate(doc.get("prints", []), start=1)])
