"""Whether a home reading is high or low, by the thresholds the outpatient leaflets use.

Blood pressure: ≥140 or ≥90 is high (中国高血压防治指南, home readings use 135/85, but the
leaflet patients are given says 140/90, and the flag must match what they were told);
<90 systolic or <60 diastolic is low. Glucose: fasting 3.9–7.0, otherwise <11.1.
Heart rate at rest 60–100. Weight has no flag (it is a trend, not a range).
"""

from __future__ import annotations

from typing import Literal

Flag = Literal["N", "H", "L"]
FLAG_LABELS = {"N": "正常", "H": "偏高", "L": "偏低"}


def reading_flag(kind: str, *, systolic: int | None = None, diastolic: int | None = None,
                 value: float | None = None, fasting: bool | None = None) -> Flag:
    if kind == "blood_pressure":
        assert systolic is not None and diastolic is not None
        if systolic >= 140 or diastolic >= 90:
            return "H"
        if systolic < 90 or diastolic < 60:
            return "L"
        return "N"
    if value is None or kind == "weight":
        return "N"
    if kind == "glucose":
        high = 7.0 if fasting else 11.1
        return "H" if value >= high else "L" if value < 3.9 else "N"
    if kind == "heart_rate":
        return "H" if value > 100 else "L" if value < 60 else "N"
    return "N"
