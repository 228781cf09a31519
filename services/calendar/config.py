"""Calendar settings: `[calendar]` in config/default.toml."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Standing overrides a hospital keeps in its config (admins add more at /admin/calendar;
    # an admin override wins over these, these win over the statutory calendar).
    closed_days: list[date] = []
    open_days: list[date] = []
    # How stale a process's copy of the admins' overrides may get (changes made elsewhere).
    refresh_seconds: float = Field(60.0, gt=0)
    # How far ahead the public calendar API answers in one request.
    max_days: int = Field(92, ge=1, le=366)
