"""China's statutory calendar (法定节假日, 调休) from the maintained `chinesecalendar` package.

The package ships each year's State Council notice once it is published and raises
NotImplementedError for years it does not know. Then the answer falls back to Monday to
Friday, and that fallback is logged once per year so operators know to upgrade the package
or add the year's holidays as overrides.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date

import chinese_calendar

log = logging.getLogger("palm.calendar")

# The package's English holiday names, as patients read them.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


@dataclass(frozen=True)
class StatutoryDay:
    open: bool
    kind: str          # workday | weekend | holiday | adjusted_workday
    name: str          # the holiday's Chinese name, "" otherwise
    source: str        # chinesecalendar | fallback


class StatutoryCalendar:
    """Answers from `chinesecalendar`, Monday to Friday where it has no data."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unknown_years: set[int] = set()

    def day(self, day: date) -> StatutoryDay:
        try:
            workday = chinese_calendar.is_workday(day)
            _, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            self._note_unknown_year(day.year)
            weekday = day.weekday() < 5
            return StatutoryDay(weekday, "workday" if weekday else "weekend", "", "fallback")
        weekend = day.weekday() >= 5
        if workday:
            kind = "adjusted_workday" if weekend else "workday"
        else:
            kind = "holiday" if name else "weekend"
        # an adjusted working day carries the name of the holiday it makes up for
        label = HOLIDAY_NAMES.get(name, name) if name else ""
        return StatutoryDay(workday, kind, label, "chinesecalendar")

    def _note_unknown_year(self, year: int) -> None:
        with self._lock:
            if year in self._unknown_years:
                return
            self._unknown_years.add(year)
        log.warning("chinesecalendar has no data for %s: using Monday-Friday plus the "
                    "hospital's overrides; upgrade the package or add overrides", year,
                    extra={"year": year})
