"""健康档案 H5 page: one family member's readings of one kind, as a trend drawn in inline SVG
(server-rendered, no script) with the list of readings under it in large type."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.identity_pages import PatientPage
from services.health_records.models import KIND_LABELS

WIDTH, HEIGHT, PAD = 320, 160, 24


@dataclass
class TrendLine:
    name: str
    points: str                     # SVG polyline "x,y x,y"
    dots: list[tuple[float, float, str]]   # x, y, flag


@dataclass
class Trend:
    lines: list[TrendLine]
    low: float
    high: float


def trend(readings) -> Trend | None:
    """Oldest → newest left to right; blood pressure draws systolic and diastolic."""
    series = list(reversed(readings))
    if not series:
        return None
    if series[0].kind == "blood_pressure":
        named = [("收缩压", [r.systolic for r in series]), ("舒张压", [r.diastolic for r in series])]
    else:
        named = [(series[0].kind_label, [r.value for r in series])]
    values = [v for _, vs in named for v in vs]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(series) - 1, 1)
    lines = []
    for name, vs in named:
        dots = [(round(PAD + i * step, 1), round(HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD), 1),
                 series[i].flag) for i, v in enumerate(vs)]
        lines.append(TrendLine(name, " ".join(f"{x},{y}" for x, y, _ in dots), dots))
    return Trend(lines, low, high)


class HealthRecordPageHandler(PatientPage):
    async def get(self, patient_id: str):
        """A trend chart and the readings of one kind (血压 unless ?kind= says otherwise)."""
        kind = self.get_argument("kind", "blood_pressure")
        if kind not in KIND_LABELS:
            kind = "blood_pressure"
        listed = await self.services.health_records.list_readings(self.account_id, patient_id, kind, 90)
        self.render("health_records/trend.html", listed=listed, kind=kind, kinds=KIND_LABELS,
                    chart=trend(listed.readings), width=WIDTH, height=HEIGHT,
                    page_title="健康档案")


routes = [
    (r"/h5/health-records/(?P<patient_id>[^/]+)", HealthRecordPageHandler),
]
