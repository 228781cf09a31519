"""The statutory calendar adapter: China's holidays and 调休 from chinesecalendar, and the
Monday-to-Friday fallback (logged once) for a year the package does not know.

These dates are facts the package ships (the State Council's published notices), not the
test clock: they check that we read the package right.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from services.calendar import StatutoryCalendar


def test_national_day_is_closed_and_its_makeup_sunday_is_open():
    calendar = StatutoryCalendar()
    national_day = calendar.day(date(2025, 10, 1))
    assert (national_day.open, national_day.kind, national_day.name) == (False, "holiday", "国庆节")
    makeup = calendar.day(date(2025, 9, 28))           # a Sunday worked for the holiday
    assert makeup.open and makeup.kind == "adjusted_workday"
    assert calendar.day(date(2025, 9, 27)).kind == "weekend"
    assert calendar.day(date(2025, 9, 26)).kind == "workday"
    assert national_day.source == "chinesecalendar"


def test_an_unknown_year_falls_back_to_monday_to_friday_and_says_so_once(caplog):
    calendar = StatutoryCalendar()
    first = date(2100, 1, 4)                           # far beyond any published notice
    with caplog.at_level(logging.WARNING, logger="palm.calendar"):
        week = [calendar.day(first + timedelta(days=n)) for n in range(14)]
    assert {d.source for d in week} == {"fallback"}
    assert [d.open for d in week] == [(first + timedelta(days=n)).weekday() < 5 for n in range(14)]
    warnings = [r for r in caplog.records if "no data for 2100" in r.getMessage()]
    assert len(warnings) == 1
