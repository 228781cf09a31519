"""Lab result flags: reference ranges, flag codes and what a patient reads.

Flag codes (HL7 v2 / FHIR v3-ObservationInterpretation): N normal, H high, L low,
HH critically high, LL critically low, A abnormal, AA critically abnormal. The LIS may
send a flag (in Chinese or as a code); when it does not, we compute one from the value,
the reference range and, if given, the critical limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CRITICAL = ("HH", "LL", "AA")
ABNORMAL = ("H", "L", "A", *CRITICAL)

# What the LIS may send → our code.
_FLAG_ALIASES = {
    "N": "N", "正常": "N", "": None, "-": None,
    "H": "H", "↑": "H", "偏高": "H", "高": "H", "HIGH": "H",
    "L": "L", "↓": "L", "偏低": "L", "低": "L", "LOW": "L",
    "HH": "HH", "危急偏高": "HH", "危急高": "HH", "↑↑": "HH",
    "LL": "LL", "危急偏低": "LL", "危急低": "LL", "↓↓": "LL",
    "A": "A", "异常": "A", "阳性": "A", "ABNORMAL": "A",
    "AA": "AA", "危急": "AA", "危急值": "AA", "CRITICAL": "AA",
}

LABELS = {"N": "正常", "H": "偏高", "L": "偏低", "HH": "危急（偏高）", "LL": "危急（偏低）",
          "A": "异常", "AA": "危急"}
HINTS = {
    "H": "比正常参考范围高",
    "L": "比正常参考范围低",
    "A": "结果与正常不符，请咨询医生",
    "HH": "危急值：明显高于正常，请立即联系医生",
    "LL": "危急值：明显低于正常，请立即联系医生",
    "AA": "危急值：请立即联系医生",
}
ARROWS = {"H": "↑", "L": "↓", "HH": "↑↑", "LL": "↓↓", "A": "*", "AA": "**"}

_NUMBER = re.compile(r"^[<>≤≥＜＞]?=?\s*([-+]?\d+(?:\.\d+)?)")
_RANGE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:-|–|—|~|～|至|to)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_UPPER = re.compile(r"^\s*(?:<|＜|≤|<=)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_LOWER = re.compile(r"^\s*(?:>|＞|≥|>=)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_NEGATIVE = ("阴性", "-", "阴性(-)", "NEGATIVE", "NEG")


def normalise_flag(flag: str | None) -> str | None:
    """The code for an LIS flag ("偏高" → "H"); ValueError for something unknown."""
    if flag is None:
        return None
    key = flag.strip().upper()
    if key in _FLAG_ALIASES:
        return _FLAG_ALIASES[key]
    raise ValueError(f"无法识别的结果标识：{flag}")


def to_number(text: str | None) -> float | None:
    """A numeric result ("5.6", "<0.1" → 0.1); None for qualitative results ("阴性")."""
    if text is None:
        return None
    match = _NUMBER.match(text.strip())
    return float(match.group(1)) if match else None


@dataclass(frozen=True)
class ReferenceRange:
    low: float | None = None
    high: float | None = None
    text: str = ""

    @classmethod
    def parse(cls, text: str | None, low: float | None = None,
              high: float | None = None) -> ReferenceRange:
        """"3.5-5.5", "<5.2", ">60", "阴性" (qualitative), or explicit bounds."""
        text = (text or "").strip()
        if low is None and high is None and text:
            if match := _RANGE.match(text):
                low, high = float(match.group(1)), float(match.group(2))
            elif match := _UPPER.match(text):
                high = float(match.group(1))
            elif match := _LOWER.match(text):
                low = float(match.group(1))
        if not text and (low is not None or high is not None):
            text = (f"{_fmt(low)}-{_fmt(high)}" if low is not None and high is not None
                    else f"<{_fmt(high)}" if high is not None else f">{_fmt(low)}")
        return cls(low, high, text)


def _fmt(number: float | None) -> str:
    if number is None:
        return ""
    return f"{number:g}"


def compute_flag(value: str, ref: ReferenceRange, critical_low: float | None = None,
                 critical_high: float | None = None) -> str | None:
    """The flag implied by the value and the ranges; None when nothing can be said."""
    number = to_number(value)
    if number is None:
        if ref.text.upper() in _NEGATIVE and value.strip():
            return "N" if value.strip().upper().startswith(_NEGATIVE) else "A"
        return None
    if critical_high is not None and number >= critical_high:
        return "HH"
    if critical_low is not None and number <= critical_low:
        return "LL"
    if ref.high is not None and number > ref.high:
        return "H"
    if ref.low is not None and number < ref.low:
        return "L"
    if ref.low is None and ref.high is None:
        return None
    return "N"


def is_abnormal(flag: str | None) -> bool:
    return flag in ABNORMAL


def is_critical(flag: str | None) -> bool:
    return flag in CRITICAL


def severity(flag: str | None) -> int:
    """Sort key: critical first, then abnormal, then the rest."""
    return 0 if is_critical(flag) else 1 if is_abnormal(flag) else 2
