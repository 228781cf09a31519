"""居民身份证 numbers (GB 11643-1999): check digit, birth date and sex."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PATTERN = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def parse_id_card(number: str, today: date | None = None) -> tuple[date, str]:
    """(birth date, sex) of a valid number; ValueError with a Chinese message otherwise."""
    number = number.strip().upper()
    if not _PATTERN.match(number):
        raise ValueError("身份证号码应为 18 位（最后一位可为 X）")
    if check_digit(number[:17]) != number[17]:
        raise ValueError("身份证号码校验位不正确，请核对")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError("身份证号码中的出生日期不正确") from None
    if birth < date(1900, 1, 1) or (today is not None and birth > today):
        raise ValueError("身份证号码中的出生日期不正确")
    return birth, ("male" if int(number[16]) % 2 == 1 else "female")


def make_id_card(region: str, birth: date, sequence: int, sex: str) -> str:
    """A syntactically valid number (tests and demo data only): odd sequence = male."""
    seq = sequence * 2 + (1 if sex == "male" else 0)
    first17 = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_digit(first17)
