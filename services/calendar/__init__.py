"""The hospital's calendar (节假日与调休): is a day open for outpatient work?

    statutory.py  China's statutory holidays and adjusted working days from `chinesecalendar`,
                  with a Monday-to-Friday fallback for years the package does not know yet
    service.py    HospitalCalendar: statutory answer + the hospital's overrides (config and admin)
    models.py     API models

Registration asks it when numbers are released and when the day-before reminders go out;
exam booking will ask it the same way.
"""

from __future__ import annotations

from services.calendar.config import CalendarConfig
from services.calendar.service import HospitalCalendar
from services.calendar.statutory import StatutoryCalendar

__all__ = ["CalendarConfig", "HospitalCalendar", "StatutoryCalendar"]
