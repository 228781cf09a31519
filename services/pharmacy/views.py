"""Stored prescription documents → what pharmacists, patients and labels see.

Pure functions: no database, no clock of their own (the caller passes `now`).
Personal data is decrypted only to be masked here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from collections.abc import Mapping

from services.clock import as_utc, format_local
from services.crypto import FieldCipher, mask_name
from services.pharmacy.models import (
    HerbOut, PatientPrescriptionOut, PrescriptionOut, ProgressOut, QueueItemOut, StepOut,
    TimelineStep,
)
from services.pharmacy.stages import (
    ACTION_LABELS, DELIVERY_LABELS, MODE_LABELS, READY_STAGES, STAGE_LABELS, next_stage, path,
)


def mask_address(address: str | None) -> str | None:
    """浙江省杭州市西湖区文三路 1 号 → 浙江省杭州市****: the city stays, the street does not."""
    if not address:
        return None
    return address[:6] + "****"


def waiting_minutes(since: datetime, now: datetime) -> int:
    return max(0, int((now - as_utc(since)).total_seconds() // 60))


def masked_patient(doc: Mapping[str, Any]) -> str:
    return doc.get("patient_masked") or "*"


def prescription_out(doc: Mapping[str, Any], now: datetime, progress_url: str,
                     cipher: FieldCipher) -> PrescriptionOut:
    """The pharmacist's view of one bag."""
    following = next_stage(doc["mode"], doc["delivery"], doc["stage"])
    address = cipher.decrypt(doc.get("address"), aad="address") if doc.get("address") else None
    return PrescriptionOut(
        id=str(doc["_id"]), rx_no=doc["rx_no"], patient_id=doc.get("patient_id"),
        patient_name=masked_patient(doc),
        herbs=[HerbOut(**h) for h in doc["herbs"]], doses=doc["doses"],
        mode=doc["mode"], mode_label=MODE_LABELS[doc["mode"]],
        delivery=doc["delivery"], delivery_label=DELIVERY_LABELS[doc["delivery"]],
        pickup_window=doc.get("pickup_window"), address=mask_address(address),
        doctor=doc.get("doctor"), department=doc.get("department"),
        stage=doc["stage"], stage_label=STAGE_LABELS[doc["stage"]],
        stage_entered_at=as_utc(doc["stage_entered_at"]),
        waiting_minutes=waiting_minutes(doc["stage_entered_at"], now),
        next_stage=following, next_action=ACTION_LABELS.get(following) if following else None,
        courier=doc.get("courier"), tracking_no=doc.get("tracking_no"),
        steps=[StepOut(n=s["n"], stage=s["stage"], label=STAGE_LABELS[s["stage"]],
                       at=as_utc(s["at"]), by=s.get("by_label") or "", station=s.get("station") or "")
               for s in doc["history"]],
        created_at=as_utc(doc["created_at"]), progress_url=progress_url,
    )


def queue_item(doc: Mapping[str, Any], now: datetime, limit_minutes: int) -> QueueItemOut:
    waited = waiting_minutes(doc["stage_entered_at"], now)
    return QueueItemOut(id=str(doc["_id"]), rx_no=doc["rx_no"], stage=doc["stage"],
                        stage_label=STAGE_LABELS[doc["stage"]], patient_name=masked_patient(doc),
                        mode_label=MODE_LABELS[doc["mode"]],
                        stage_entered_at=as_utc(doc["stage_entered_at"]), waiting_minutes=waited,
                        limit_minutes=limit_minutes, overdue=bool(limit_minutes) and waited > limit_minutes)


def patient_item(doc: Mapping[str, Any], progress_url: str) -> PatientPrescriptionOut:
    return PatientPrescriptionOut(
        id=str(doc["_id"]), rx_no=doc["rx_no"], patient_name=masked_patient(doc),
        mode_label=MODE_LABELS[doc["mode"]], doses=doc["doses"], stage=doc["stage"],
        stage_label=STAGE_LABELS[doc["stage"]], created_at=as_utc(doc["created_at"]),
        progress_url=progress_url, progress_path="/h5/decoction/" + progress_url.rsplit("/", 1)[1])


def estimate_ready(doc: Mapping[str, Any], now: datetime, durations: Mapping[str, float]) -> datetime | None:
    """When the bag should reach 待取药/已发货: the rest of this stage plus the typical
    duration (seconds, from recent bags) of each stage still ahead of it."""
    if doc["stage"] in READY_STAGES or doc["stage"] == "awaiting_payment":
        return None   # ready already, or not in the pharmacy's hands until paid
    stages = path(doc["mode"], doc["delivery"])
    ahead = stages[stages.index(doc["stage"]) + 1:]
    entered = as_utc(doc["stage_entered_at"])
    at = max(now, entered + timedelta(seconds=durations.get(doc["stage"], 0)))
    for stage in ahead:
        if stage in READY_STAGES:
            break
        at += timedelta(seconds=durations.get(stage, 0))
    return at


def progress_out(doc: Mapping[str, Any], now: datetime, progress_url: str,
                 durations: Mapping[str, float], pickup_place: str) -> ProgressOut:
    """The public progress page's data: a stage timeline with times, no personal data."""
    reached = {s["stage"]: as_utc(s["at"]) for s in doc["history"]}
    stages = path(doc["mode"], doc["delivery"], start=doc["history"][0]["stage"])
    current_index = stages.index(doc["stage"])
    def shown(i: int, s: str) -> bool:
        return i <= current_index and s in reached

    timeline = [TimelineStep(stage=s, label=STAGE_LABELS[s],
                             at=reached.get(s) if i <= current_index else None,
                             at_text=format_local(reached[s], "%m-%d %H:%M") if shown(i, s) else "",
                             done=i <= current_index, current=i == current_index)
                for i, s in enumerate(stages)]
    estimate = estimate_ready(doc, now, durations)
    pickup = (doc.get("pickup_window") or pickup_place) if doc["delivery"] == "pickup" else None
    return ProgressOut(
        rx_no=doc["rx_no"], patient_name=masked_patient(doc), mode_label=MODE_LABELS[doc["mode"]],
        delivery=doc["delivery"], stage=doc["stage"], stage_label=STAGE_LABELS[doc["stage"]],
        timeline=timeline, ready=doc["stage"] in READY_STAGES, estimated_ready_at=estimate,
        estimated_ready_text=format_local(estimate, "%m月%d日 %H:%M") if estimate else "",
        pickup_place=pickup, courier=doc.get("courier"), tracking_no=doc.get("tracking_no"),
        progress_url=progress_url)


def mask_for_storage(name: str) -> str:
    return mask_name(name)
