"""Helpers for registration tests: schedules through the service, patients, time."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

from services.clock import SHANGHAI
from services.registration.models import ScheduleIn, SlotIn
from tests.support import add_patient, new_phone, patient_client

_counter = itertools.count(1)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


def add_schedule(app, *, day: date, doctor_code: str = "D001", period: str = "morning",
                 capacity: int = 5, slots: int = 2, start: str = "08:00", fee_fen: int = 1200,
                 department_code: str | None = None, release_at: datetime | None = None,
                 kind: str = "general") -> dict:
    """A schedule created as the HIS would; returns the ScheduleOut as a dict."""
    his_id = f"T-{next(_counter)}-{day.isoformat()}"
    h, m = (int(x) for x in start.split(":"))
    slot_list = []
    t = datetime.combine(day, time(h, m))
    for _ in range(slots):
        e = t + timedelta(minutes=30)
        slot_list.append(SlotIn(start=t.strftime("%H:%M"), end=e.strftime("%H:%M"),
                                capacity=capacity))
        t = e
    item = ScheduleIn(his_id=his_id, doctor_code=doctor_code, department_code=department_code,
                      date=day, period=period, type=kind, fee_fen=fee_fen, slots=slot_list,
                      release_at=release_at)
    result = app.call(lambda s: s.registration.upsert_schedules([item]))
    return app.call(lambda s: s.registration.get_schedule(result.ids[his_id])).model_dump()


class Family:
    """A logged-in patient account (HTTP client) that adds members through the API."""

    def __init__(self, app):
        self.app = app
        self.client, self.account_id = patient_client(app)

    def member(self, *, name: str = "张三", sex: str = "male", birth: date = date(1980, 5, 1),
               verified: bool = True, relation: str = "self"):
        """A family member; `verified=False` uses a passport (not real-name verified)."""
        if verified:
            body = add_patient(self.app, self.client, name=name, sex=sex, birth=birth,
                               relation=relation if relation != "self" or not self._has_self()
                               else "other")
        else:
            response = self.client.post("/api/v1/patients", json={
                "name": name, "document_type": "passport",
                "document_number": f"E{next(_counter):08d}", "phone": new_phone(),
                "relation": "other", "sex": sex, "birth_date": birth.isoformat()})
            assert response.status_code == 201, response.text
            body = response.json()
        return self.app.call(lambda s: s.identity.get_patient(body["id"]))

    def _has_self(self) -> bool:
        return any(p["relation"] == "self" for p in self.client.get("/api/v1/patients").json())


def new_patient(app, *, sex: str = "male", birth: date = date(1980, 5, 1),
                verified: bool = True, family: Family | None = None, name: str = "张三"):
    """A PatientRecord of a new (or the given) family, created through the API."""
    return (family or Family(app)).member(name=name, sex=sex, birth=birth, verified=verified)
