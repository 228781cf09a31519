"""The decoction service: prescriptions in (intake.py), one atomic step at a time (here),
messages out (notices.py), queues, patient views, labels and statistics (here).

Collection (owned here):
    prescriptions {_id, rx_no (unique), source, patient_id|None, patient_name (encrypted),
                   patient_masked, phone (encrypted)|None, card_index|None, herbs[], doses,
                   mode, delivery, pickup_window, address (encrypted)|None, doctor, department,
                   stage, stage_entered_at, step_n, next_n, state ("<id>:<stage>:<next_n>", unique),
                   history [{n, stage, at, by, by_label, station}]   (the active steps)
                   undone  [{...step, undone_at, undone_by, reason}] (supervisor undos)
                   courier, tracking_no, notices_pending [n], payload_hash,
                   created_at, updated_at}

Every stage change is ONE find_one_and_update filtered on `state`, the stage and step
number the caller saw, so two stations scanning the same bag cannot both move it. Messages are
recorded as `notices_pending` in that same update and sent afterwards through the outbox
with a dedup key per prescription + stage + step number; a background task re-sends any
that a crash left pending, and the outbox's dedup makes that safe.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any
from collections.abc import Mapping
from urllib.parse import unquote

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services import qr
from services.actors import Actor
from services.clock import Clock, as_utc
from services.crypto import FieldCipher, TokenSigner
from services.errors import BusinessRuleViolation, Conflict, NotFound
from services.jobs import PeriodicTask, utc_floor
from services.pharmacy import views
from services.pharmacy.intake import IntakeMixin
from services.pharmacy.keys import TOKEN_PURPOSE, not_found, object_id, state_key
from services.pharmacy.notices import NoticesMixin
from services.pharmacy.models import (
    AdvanceIn, BatchAdvanceIn, BatchItemOut, BatchOut, LabelOut, MemberPrescriptionsOut,
    PatientPrescriptionOut,
    PharmacyConfig, PrescriptionOut, ProgressOut, QueueItemOut, QueueOut, StatsOut,
)
from services.pharmacy.stages import STAGE_LABELS, STAGES, can_move, next_stage

log = logging.getLogger("palm.pharmacy")


class PharmacyService(IntakeMixin, NoticesMixin):
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher, signer: TokenSigner,
                 config: PharmacyConfig, public_url: str, *, notify: Any = None,
                 identity: Any = None, audit: Any = None):
        self.prescriptions = db["prescriptions"]
        self.releases = db["prescription_releases"]
        self.clock = clock
        self.cipher = cipher
        self.signer = signer
        self.config = config
        self.public_url = public_url.rstrip("/")
        self.notify = notify
        self.identity = identity
        self.audit = audit
        self._durations: tuple[float, dict[str, float]] | None = None

    def wire(self, services: Any) -> None:
        """Connect the services this one calls (built alongside it at start-up): the outbox,
        identity, the audit log, and billing's settlement event when billing exists."""
        self.notify = services.notify
        self.identity = services.identity
        self.audit = services.audit
        billing = getattr(services, "billing", None)
        if billing is not None and hasattr(billing, "on_settled"):
            billing.on_settled("prescription", self.release_paid_prescription, name="pharmacy")

    async def ensure_indexes(self) -> None:
        await self.prescriptions.create_index("rx_no", unique=True)
        await self.prescriptions.create_index("state", unique=True)
        await self.prescriptions.create_index([("stage", ASCENDING), ("stage_entered_at", ASCENDING)])
        await self.prescriptions.create_index([("patient_id", ASCENDING), ("created_at", DESCENDING)])
        await self.prescriptions.create_index([("updated_at", DESCENDING)])
        await self.prescriptions.create_index([("created_at", DESCENDING)])
        await self.prescriptions.create_index("notices_pending", sparse=True)
        await self.releases.create_index("rx_no", unique=True)

    def background_tasks(self) -> list[PeriodicTask]:
        return [PeriodicTask("pharmacy.notices", self.resend_pending_notices, interval=15.0)]

    # ---- tokens and links ---------------------------------------------------------------

    def progress_token(self, doc: Mapping[str, Any]) -> str:
        """The signed public token of a prescription (same token on the label and in messages)."""
        expires = as_utc(doc["created_at"]) + timedelta(days=self.config.token_days)
        return self.signer.sign(TOKEN_PURPOSE, {"rx": doc["rx_no"]}, expires.timestamp())

    def progress_url(self, doc: Mapping[str, Any]) -> str:
        return f"{self.public_url}/h5/decoction/{self.progress_token(doc)}"

    def _out(self, doc: Mapping[str, Any]) -> PrescriptionOut:
        return views.prescription_out(doc, self.clock.now(), self.progress_url(doc), self.cipher)

    async def _audit(self, actor: Actor, action: str, doc: Mapping[str, Any], ip: str | None,
                     **details: Any) -> None:
        if self.audit is not None:
            await self.audit.record(actor, action, patient_id=doc.get("patient_id"),
                                    details={"rx_no": doc["rx_no"], **details}, ip=ip)

    # ---- reading ------------------------------------------------------------------------

    async def _load(self, prescription_id: str) -> dict[str, Any]:
        doc = await self.prescriptions.find_one({"_id": object_id(prescription_id)})
        if doc is None:
            raise not_found()
        return doc

    async def get_prescription(self, actor: Actor, prescription_id: str,
                               ip: str | None = None) -> PrescriptionOut:
        """One prescription with its steps (audited staff read)."""
        doc = await self._load(prescription_id)
        await self._audit(actor, "pharmacy.view", doc, ip)
        return self._out(doc)

    def rx_from_code(self, code: str) -> str:
        """The prescription number a scanned code stands for: a label QR (progress URL or
        bare token) or a typed prescription number."""
        text = code.strip()
        token = None
        if "/h5/decoction/" in text:
            token = unquote(text.split("/h5/decoction/", 1)[1].split("?")[0].split("#")[0])
        elif "." in text:
            token = text
        if token is None:
            return text
        payload = self.signer.verify(TOKEN_PURPOSE, token, now=self.clock.now().timestamp())
        if payload is None or not isinstance(payload.get("rx"), str):
            raise BusinessRuleViolation("scan_code_invalid", "无法识别的条码，请重新扫描或手工输入处方号")
        return payload["rx"]

    async def scan(self, actor: Actor, code: str, ip: str | None = None) -> PrescriptionOut:
        """The bag behind a scanned code, its stage and its next action (audited)."""
        doc = await self.prescriptions.find_one({"rx_no": self.rx_from_code(code)})
        if doc is None:
            raise not_found()
        await self._audit(actor, "pharmacy.scan", doc, ip)
        return self._out(doc)

    # ---- the stage machine --------------------------------------------------------------

    async def advance(self, actor: Actor, prescription_id: str, body: AdvanceIn,
                      ip: str | None = None) -> PrescriptionOut:
        """Move a bag one step forward (409 invalid_transition if that is not its next step)."""
        doc = await self.check_advance(await self._load(prescription_id), body)
        updated = await self.do_advance(actor, doc, body)
        await self._audit(actor, "pharmacy.advance", updated, ip, to_stage=body.to_stage,
                          station=body.station)
        return self._out(updated)

    async def check_advance(self, doc: dict[str, Any], body: AdvanceIn) -> dict[str, Any]:
        """Validate a step against the table and the hospital rules, without changing anything."""
        current, target = doc["stage"], body.to_stage
        if current == "awaiting_payment":
            raise BusinessRuleViolation("prescription_unpaid", "该处方尚未缴费，缴费后将自动进入药房",
                                        details={"rx_no": doc["rx_no"]})
        if not can_move(doc["mode"], doc["delivery"], current, target):
            following = next_stage(doc["mode"], doc["delivery"], current)
            hint = f"下一步应为「{STAGE_LABELS[following]}」" if following else "该处方已完成"
            raise Conflict("invalid_transition",
                           f"当前为「{STAGE_LABELS[current]}」，不能变为「{STAGE_LABELS[target]}」，{hint}",
                           details={"rx_no": doc["rx_no"], "current": current, "requested": target,
                                    "next": following})
        if target == "shipped" and not (body.courier and body.tracking_no):
            raise BusinessRuleViolation("shipping_details_required", "发货须填写快递公司和运单号")
        if target == "decocting":
            ready_at = as_utc(doc["stage_entered_at"]) + timedelta(minutes=self.config.soak_minutes)
            now = self.clock.now()
            if now < ready_at:
                remaining = math.ceil((ready_at - now).total_seconds() / 60)
                raise BusinessRuleViolation(
                    "soaking_too_short",
                    f"浸泡需满 {self.config.soak_minutes} 分钟，还需约 {remaining} 分钟才能开始煎煮",
                    details={"rx_no": doc["rx_no"], "soak_minutes": self.config.soak_minutes,
                             "remaining_minutes": remaining, "ready_at": ready_at.isoformat()})
        return doc

    async def do_advance(self, actor: Actor, doc: Mapping[str, Any], body: AdvanceIn) -> dict[str, Any]:
        """Apply a step checked by `check_advance`; the update is filtered on the stage and
        step number read then, so a concurrent step by another station makes this one 409."""
        now = self.clock.now()
        n = doc["next_n"]
        step = {"n": n, "stage": body.to_stage, "at": now, "by": actor.id, "by_label": actor.label,
                "station": body.station or ""}
        # The stage and step we read, as one indexed equality: if another station moved the
        # bag (or a supervisor undid a step) since, nothing matches. The soaking time was
        # checked on that same read, so it still holds when this matches.
        query = {"state": state_key(doc["_id"], doc["stage"], n)}
        fields: dict[str, Any] = {"stage": body.to_stage, "stage_entered_at": now, "step_n": n,
                                  "state": state_key(doc["_id"], body.to_stage, n + 1), "updated_at": now}
        if body.to_stage == "shipped":
            fields.update(courier=body.courier, tracking_no=body.tracking_no)
        push: dict[str, Any] = {"history": step}
        notify = body.to_stage in self.config.notify_stages
        if notify:
            push["notices_pending"] = n
        updated = await self.prescriptions.find_one_and_update(
            query, {"$set": fields, "$inc": {"next_n": 1}, "$push": push},
            return_document=ReturnDocument.AFTER)
        if updated is None:
            fresh = await self.prescriptions.find_one({"_id": doc["_id"]}, {"stage": 1}) or {}
            current = fresh.get("stage", doc["stage"])
            raise Conflict("invalid_transition",
                           f"该药袋已被其他工位处理，当前为「{STAGE_LABELS.get(current, current)}」，"
                           "请重新扫码",
                           details={"rx_no": doc["rx_no"], "current": current,
                                    "requested": body.to_stage})
        if notify:
            await self._send_notice(updated, step)
        return updated

    async def batch_advance(self, actor: Actor, body: BatchAdvanceIn, ip: str | None = None) -> BatchOut:
        """Advance many bags to the same stage; each bag succeeds or fails on its own."""
        items: list[BatchItemOut] = []
        for prescription_id in dict.fromkeys(body.ids):
            try:
                out = await self.advance(actor, prescription_id, body, ip)
                items.append(BatchItemOut(id=prescription_id, ok=True, stage=out.stage))
            except (Conflict, BusinessRuleViolation, NotFound) as error:
                items.append(BatchItemOut(id=prescription_id, ok=False, code=error.code,
                                          message=error.message))
        ok = sum(1 for i in items if i.ok)
        return BatchOut(succeeded=ok, failed=len(items) - ok, items=items)

    async def undo_last_step(self, actor: Actor, prescription_id: str, reason: str,
                             station: str | None = None, ip: str | None = None) -> PrescriptionOut:
        """A supervisor takes back the last step (audited, with the reason)."""
        doc = await self._load(prescription_id)
        history = doc["history"]
        if len(history) < 2:
            raise BusinessRuleViolation("nothing_to_undo", "该处方仅有收方记录，没有可撤销的步骤")
        last, previous = history[-1], history[-2]
        if previous["stage"] == "awaiting_payment":
            raise BusinessRuleViolation("nothing_to_undo", "缴费后进入药房这一步不能撤销")
        now = self.clock.now()
        undone = {**last, "undone_at": now, "undone_by": actor.id, "undone_by_label": actor.label,
                  "reason": reason, "undo_station": station or ""}
        update: dict[str, Any] = {
            "$pop": {"history": 1},
            "$push": {"undone": undone},
            "$pull": {"notices_pending": last["n"]},
            "$set": {"stage": previous["stage"], "stage_entered_at": previous["at"],
                     "step_n": previous["n"], "updated_at": now,
                     "state": state_key(doc["_id"], previous["stage"], doc["next_n"] + 1)},
            "$inc": {"next_n": 1},
        }
        if last["stage"] == "shipped":
            update["$set"].update(courier=None, tracking_no=None)
        updated = await self.prescriptions.find_one_and_update(
            {"state": state_key(doc["_id"], doc["stage"], doc["next_n"])}, update,
            return_document=ReturnDocument.AFTER)
        if updated is None:
            raise Conflict("stage_changed", "该药袋刚被其他工位处理，请刷新后再撤销")
        await self._audit(actor, "pharmacy.undo", updated, ip, undone_stage=last["stage"],
                          back_to=previous["stage"], reason=reason)
        return self._out(updated)

    # ---- queues -------------------------------------------------------------------------

    def limit_for(self, stage: str) -> int:
        return self.config.stage_limits_minutes.get(stage, 0)

    async def work_queues(self, actor: Actor, ip: str | None = None) -> list[QueueOut]:
        """Bags waiting in each stage, longest-waiting first, with waiting times."""
        now = self.clock.now()
        queues = []
        for stage in STAGES:
            if stage == "completed":
                continue
            docs = await self.prescriptions.find({"stage": stage}).sort(
                [("stage_entered_at", ASCENDING)]).limit(self.config.queue_limit).to_list()
            count = len(docs) if len(docs) < self.config.queue_limit else \
                await self.prescriptions.count_documents({"stage": stage})
            limit = self.limit_for(stage)
            queues.append(QueueOut(stage=stage, label=STAGE_LABELS[stage], count=count,
                                   limit_minutes=limit,
                                   items=[views.queue_item(d, now, limit) for d in docs]))
        if self.audit is not None:
            await self.audit.record(actor, "pharmacy.queues",
                                    details={"bags": sum(q.count for q in queues)}, ip=ip)
        return queues

    async def overdue(self, actor: Actor | None = None, ip: str | None = None) -> list[QueueItemOut]:
        """Bags that have waited in their stage longer than that stage's limit."""
        now = self.clock.now()
        items: list[QueueItemOut] = []
        for stage, limit in self.config.stage_limits_minutes.items():
            if not limit or stage not in STAGE_LABELS:
                continue
            cutoff = utc_floor(now - timedelta(minutes=limit))
            async for doc in self.prescriptions.find(
                    {"stage": stage, "stage_entered_at": {"$lt": cutoff}}).sort(
                    [("stage_entered_at", ASCENDING)]).limit(self.config.queue_limit):
                items.append(views.queue_item(doc, now, limit))
        items.sort(key=lambda i: i.waiting_minutes - i.limit_minutes, reverse=True)
        if actor is not None and self.audit is not None:
            await self.audit.record(actor, "pharmacy.overdue", details={"bags": len(items)}, ip=ip)
        return items

    # ---- patients -----------------------------------------------------------------------

    async def stage_durations(self) -> dict[str, float]:
        """Typical seconds spent in each stage over recent bags (cached briefly)."""
        now = time.monotonic()
        if self._durations and now - self._durations[0] < self.config.estimate_cache_seconds:
            return self._durations[1]
        from services.pharmacy.stats import stage_samples
        docs = await self.prescriptions.find({}, {"history.stage": 1, "history.at": 1}).sort(
            [("updated_at", DESCENDING)]).limit(self.config.estimate_sample).to_list()
        samples = stage_samples(docs)
        durations = {}
        for stage in STAGES:
            values = samples.get(stage)
            fallback = self.limit_for(stage) * 60 / 2
            durations[stage] = sum(values) / len(values) if values else fallback
        durations["soaking"] = max(durations["soaking"], self.config.soak_minutes * 60)
        self._durations = (now, durations)
        return durations

    async def public_progress(self, token: str) -> ProgressOut:
        """The public progress of the prescription a signed token names (404 otherwise)."""
        payload = self.signer.verify(TOKEN_PURPOSE, token, now=self.clock.now().timestamp())
        if payload is None or not isinstance(payload.get("rx"), str):
            raise NotFound("progress_not_found", "链接无效或已过期")
        doc = await self.prescriptions.find_one({"rx_no": payload["rx"]})
        if doc is None:
            raise NotFound("progress_not_found", "链接无效或已过期")
        return views.progress_out(doc, self.clock.now(), self.progress_url(doc),
                                  await self.stage_durations(), self.config.pickup_place)

    async def list_for_patient(self, account_id: str, patient_id: str) -> list[PatientPrescriptionOut]:
        """A patient's prescriptions, newest first (another account's patient → 404)."""
        if self.identity is None:
            raise NotFound("patient_not_found", "未找到该就诊人")
        record = await self.identity.get_patient_for_account(account_id, patient_id)
        docs = await self.prescriptions.find({"patient_id": record.id}).sort(
            [("created_at", DESCENDING)]).limit(50).to_list()
        return [views.patient_item(d, self.progress_url(d)) for d in docs]

    async def prescriptions_by_member(self, account_id: str) -> list[MemberPrescriptionsOut]:
        """Every family member of an account with their prescriptions (the H5 list page)."""
        members = []
        for record in await self.identity.list_patients(account_id):
            docs = await self.prescriptions.find({"patient_id": record.id}).sort(
                [("created_at", DESCENDING)]).limit(50).to_list()
            members.append(MemberPrescriptionsOut(
                patient_id=record.id, patient_name=record.masked_name,
                prescriptions=[views.patient_item(d, self.progress_url(d)) for d in docs]))
        return members

    # ---- labels and statistics ----------------------------------------------------------

    def qr_text(self, doc: Mapping[str, Any]) -> str:
        """What the bag's QR code holds: the progress link (signed token) and the rx number."""
        return f"{self.progress_url(doc)}?rx={doc['rx_no']}"

    async def label(self, actor: Actor, prescription_id: str, ip: str | None = None) -> LabelOut:
        """The printable bag label: QR code, masked name, herbs and how to decoct them."""
        doc = await self._load(prescription_id)
        await self._audit(actor, "pharmacy.label", doc, ip)
        out = self._out(doc)
        text = self.qr_text(doc)
        return LabelOut(rx_no=out.rx_no, patient_name=out.patient_name, mode_label=out.mode_label,
                        delivery_label=out.delivery_label, doses=out.doses, herbs=out.herbs,
                        qr_text=text, qr_data_url=qr.data_url(text))

    async def label_png(self, actor: Actor, prescription_id: str, ip: str | None = None) -> bytes:
        """The bag label's QR code as a PNG."""
        doc = await self._load(prescription_id)
        await self._audit(actor, "pharmacy.label", doc, ip)
        return qr.png_bytes(self.qr_text(doc))

    async def statistics(self, days: int | None = None) -> StatsOut:
        """Time in each stage (average, 90th percentile), bags per day, overdue bags."""
        from services.pharmacy.stats import compute_stats
        days = days or self.config.stats_days
        since = self.clock.now() - timedelta(days=days)
        docs = await self.prescriptions.find(
            {"created_at": {"$gte": utc_floor(since)}},
            {"history.stage": 1, "history.at": 1, "created_at": 1}).to_list()
        return compute_stats(docs, days, self.clock.now(), await self.overdue())

    async def statistics_svg(self, days: int | None = None) -> str:
        """The statistics as one server-rendered SVG chart."""
        from services.pharmacy.stats import render_svg
        return render_svg(await self.statistics(days))

