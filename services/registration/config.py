"""Registration rules, all configurable under `[registration]` in config/default.toml."""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field


class ReleaseRule(BaseModel):
    """When a department's schedules open for booking: `days_ahead` days before, at `at`."""

    model_config = ConfigDict(extra="forbid")
    days_ahead: int = Field(7, ge=0, le=90)
    at: time = time(7, 0)


class AgeLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_age: int | None = None      # inclusive
    max_age: int | None = None      # inclusive (儿科: 13 → "under 14")


class RegistrationConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # 放号: default rule and per-department overrides (key: department code or name)
    release: ReleaseRule = ReleaseRule()
    release_overrides: dict[str, ReleaseRule] = {}

    # Booking rules
    require_real_name: bool = True
    max_active_per_patient_per_day: int = Field(2, ge=1)
    max_active_per_account_per_day: int = Field(6, ge=1)
    # department code or name → limit
    age_limits: dict[str, AgeLimit] = {"儿科": AgeLimit(max_age=13)}
    sex_limits: dict[str, str] = {"妇科": "female", "产科": "female"}
    cancel_cutoff_minutes: int = 0          # cancel allowed until slot start minus this

    # Waitlist (候补)
    waitlist_enabled: bool = True

    # No-shows (爽约)
    no_show_limit: int = 3
    no_show_window_days: int = 90
    no_show_block_days: int = 90

    # 挂一次号管3天
    revisit_free_days: int = 3

    # 就诊提醒: the day before the visit, at this Asia/Shanghai time
    reminder_at: time = time(18, 0)

    # Check-in and queue
    check_in_before_minutes: int = 30
    check_in_after_minutes: int = 15
    skip_rejoin_after: int = 3
    queue_near_ahead: int = 3
    minutes_per_patient: int = 8

    # Schedules
    max_slot_minutes: int = 30
