"""Helpers for registration tests: schedules through the service, patients, time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.clock import SHANGHAI
from services.crypto import mask_name
from services.registration.models import ScheduleIn, SlotIn

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


@dataclass
class StandInPatient:
    """Until identity lands: the PatientRecord fields registration reads."""

    id: str
    account_id: str
    name: str
    sex: str | None
    birth_date: date | None
    real_name_verified: bool = True

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def new_patient(app, *, sex: str = "male", birth: date = date(1980, 5, 1),
                verified: bool = True, account_id: str | None = None, name: str = "张三"):
    n = next(_counter)
    return StandInPatient(id=f"p{n:06d}", account_id=account_id or f"acc{n:06d}", name=name,
                          sex=sex, birth_date=birth, real_name_verified=verified)
