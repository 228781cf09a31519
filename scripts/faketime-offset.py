#!/usr/bin/env python3
"""Print a libfaketime relative offset (`+Ns`) that moves the clock to a chosen moment.

    scripts/faketime-offset.py month-end   # the coming last day of a month, 23:59 Asia/Shanghai
    scripts/faketime-offset.py days 400    # 400 days ahead

Relative, never absolute (`@…`): with an absolute time every process that starts later (the
embedded database, `run.py serve`) begins the fake clock again at that instant, so the
processes of one test run would disagree about the time.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def month_end(now: datetime) -> datetime:
    """23:59 Asia/Shanghai on the last day of this month, or of the next if that is past."""
    local = now.astimezone(SHANGHAI)
    for months_ahead in (0, 1):
        year, month = local.year, local.month + months_ahead
        if month > 12:
            year, month = year + 1, 1
        first_of_next = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
        target = datetime.combine((first_of_next - timedelta(days=1)).date(), time(23, 59),
                                  tzinfo=SHANGHAI)
        if target > now:
            return target
    raise AssertionError("unreachable")


def main(argv: list[str]) -> str:
    now = datetime.now(UTC)
    if argv[:1] == ["month-end"]:
        target = month_end(now)
    elif len(argv) == 2 and argv[0] == "days":
        target = now + timedelta(days=int(argv[1]))
    else:
        raise SystemExit(__doc__)
    return f"+{int((target - now).total_seconds())}"


if __name__ == "__main__":
    print(main(sys.argv[1:]))
