"""健康档案: the readings a patient records at home, and their trends.

Collection `health_readings` (owned here), one document per reading:
    {_id, patient_id, account_id, kind, measured_at (UTC), flag N|H|L, client_key,
     data: enc({systolic, diastolic, value, fasting, note}), recorded_at}
The numbers are health data, so they are encrypted with the patient id as associated data
(a copied ciphertext does not decrypt under another patient); kind, time and flag stay plain
so lists and abnormal counts need no decryption of the rows they skip.
A phone that retries a save sends the same client_key: the unique index on
(patient_id, client_key) makes the second insert a no-op that returns the first reading.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock, as_utc, format_local
from services.crypto import FieldCipher
from services.errors import BusinessRuleViolation, InvalidRequest
from services.health_records.flags import FLAG_LABELS, reading_flag
from services.health_records.models import (
    KIND_LABELS,
    PLAUSIBLE,
    UNITS,
    KindSummary,
    ReadingIn,
    ReadingList,
    ReadingOut,
    ReadingSaved,
)

if TYPE_CHECKING:
    from services.identity import IdentityService

# A phone's clock may run a little ahead of ours; more than this is a wrong date.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_LIST = 1000


class HealthRecordsService:
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher,
                 identity: IdentityService):
        self.readings = db["health_readings"]
        self.clock = clock
        self.cipher = cipher
        self.identity = identity

    async def ensure_indexes(self) -> None:
        await self.readings.create_index([("patient_id", ASCENDING), ("client_key", ASCENDING)],
                                         unique=True)
        await self.readings.create_index([("patient_id", ASCENDING), ("kind", ASCENDING),
                                          ("measured_at", DESCENDING)])

    async def record_reading(self, account_id: str, patient_id: str, reading: ReadingIn) -> ReadingSaved:
        """Store one home reading of a family member (idempotent by client_key)."""
        await self.identity.get_patient_for_account(account_id, patient_id)
        numbers = _checked_numbers(reading)
        measured_at = as_utc(reading.measured_at)
        if measured_at > self.clock.now() + FUTURE_TOLERANCE:
            raise BusinessRuleViolation("measured_in_future", "测量时间不能晚于当前时间，请检查手机日期")
        flag = reading_flag(reading.kind, **{k: numbers.get(k) for k in
                                             ("systolic", "diastolic", "value", "fasting")})
        doc: dict[str, Any] = {
            "patient_id": patient_id, "account_id": account_id, "kind": reading.kind,
            "measured_at": measured_at, "flag": flag, "client_key": reading.client_key,
            "data": self.cipher.encrypt(json.dumps(numbers, ensure_ascii=False), aad=patient_id),
            "recorded_at": self.clock.now(),
        }
        try:
            await self.readings.insert_one(doc)
            return ReadingSaved(outcome="created", reading=self._out(doc))
        except DuplicateKeyError:
            existing = await self.readings.find_one({"patient_id": patient_id,
                                                     "client_key": reading.client_key})
            if existing is None:   # pragma: no cover - the unique index says it exists
                raise
            return ReadingSaved(outcome="unchanged", reading=self._out(existing))

    async def list_readings(self, account_id: str, patient_id: str, kind: str | None,
                            days: int) -> ReadingList:
        """A family member's readings of the last `days` days, newest first, with summaries."""
        patient = await self.identity.get_patient_for_account(account_id, patient_id)
        query: dict[str, Any] = {"patient_id": patient_id,
                                 "measured_at": {"$gte": self.clock.now() - timedelta(days=days)}}
        if kind:
            query["kind"] = kind
        docs = await self.readings.find(query).sort([("measured_at", DESCENDING)]).limit(MAX_LIST).to_list()
        readings = [self._out(d) for d in docs]
        kinds = [kind] if kind else list(KIND_LABELS)
        summaries = []
        for k in kinds:
            of_kind = [r for r in readings if r.kind == k]
            summaries.append(KindSummary(kind=k, kind_label=KIND_LABELS[k], count=len(of_kind),  # type: ignore[arg-type]
                                         abnormal_count=sum(r.flag != "N" for r in of_kind),
                                         latest=of_kind[0] if of_kind else None))
        return ReadingList(patient_id=patient_id, patient_name=patient.masked_name, days=days,
                           summaries=summaries, readings=readings)

    def _out(self, doc: dict[str, Any]) -> ReadingOut:
        numbers = json.loads(self.cipher.decrypt(doc["data"], aad=doc["patient_id"]) or "{}")
        kind = doc["kind"]
        measured_at = as_utc(doc["measured_at"])
        return ReadingOut(
            id=str(doc["_id"]), kind=kind, kind_label=KIND_LABELS[kind], unit=UNITS[kind],
            measured_at=measured_at, measured_at_local=format_local(measured_at),
            flag=doc["flag"], flag_label=FLAG_LABELS[doc["flag"]],
            display=_display(kind, numbers), **numbers,
        )


def _checked_numbers(reading: ReadingIn) -> dict[str, Any]:
    """The numbers a kind needs, present and plausible; anything else is a 400."""
    if reading.kind == "blood_pressure":
        if reading.systolic is None or reading.diastolic is None or reading.value is not None:
            raise InvalidRequest("reading_fields_mismatch", "血压请填写收缩压和舒张压")
        _plausible("systolic", reading.systolic)
        _plausible("diastolic", reading.diastolic)
        if reading.diastolic >= reading.systolic:
            raise InvalidRequest("reading_out_of_range", "舒张压应低于收缩压，请检查")
        numbers: dict[str, Any] = {"systolic": reading.systolic, "diastolic": reading.diastolic}
    else:
        if reading.value is None or reading.systolic is not None or reading.diastolic is not None:
            raise InvalidRequest("reading_fields_mismatch", f"请填写{KIND_LABELS[reading.kind]}数值")
        _plausible(reading.kind, reading.value)
        numbers = {"value": round(reading.value, 1)}
    if reading.fasting is not None:
        if reading.kind != "glucose":
            raise InvalidRequest("reading_fields_mismatch", "只有血糖需要填写是否空腹")
        numbers["fasting"] = reading.fasting
    if reading.note:
        numbers["note"] = reading.note
    return numbers


def _plausible(name: str, number: float) -> None:
    low, high = PLAUSIBLE[name]
    if not low <= number <= high:
        raise InvalidRequest("reading_out_of_range", "数值超出可测范围，请检查是否输入有误",
                             details={"field": name, "min": low, "max": high})


def _display(kind: str, numbers: dict[str, Any]) -> str:
    if kind == "blood_pressure":
        return f"{numbers['systolic']}/{numbers['diastolic']} mmHg"
    value = numbers["value"]
    shown = f"{value:g}" if kind != "heart_rate" else f"{int(value)}"
    suffix = "（空腹）" if numbers.get("fasting") else ""
    return f"{shown} {UNITS[kind]}{suffix}"
