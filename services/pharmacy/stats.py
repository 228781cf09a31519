"""Decoction statistics: time in each stage (average, 90th percentile), bags per day,
overdue bags, and a server-rendered SVG chart of them."""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape

from services.clock import as_utc, local_date
from services.pharmacy.models import DayCountOut, QueueItemOut, StageStatOut, StatsOut
from services.pharmacy.stages import STAGE_LABELS, STAGES

# Stages whose duration is the pharmacy's work (the rest wait on patients and couriers).
TIMED_STAGES = ("received", "reviewed", "dispensed", "checked", "soaking", "decocting", "packed")


def stage_samples(docs: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Seconds spent in each stage: from entering it to entering the next step."""
    samples: dict[str, list[float]] = {}
    for doc in docs:
        steps = doc.get("history") or []
        for here, after in pairwise(steps):
            seconds = (as_utc(after["at"]) - as_utc(here["at"])).total_seconds()
            samples.setdefault(here["stage"], []).append(max(0.0, seconds))
    return samples


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def compute_stats(docs: list[Mapping[str, Any]], days: int, now: datetime,
                  overdue: list[QueueItemOut]) -> StatsOut:
    """Statistics over the prescriptions received in the last `days` days."""
    samples = stage_samples(docs)
    stages = []
    for stage in TIMED_STAGES:
        values = samples.get(stage, [])
        stages.append(StageStatOut(
            stage=stage, label=STAGE_LABELS[stage], samples=len(values),
            avg_minutes=round(sum(values) / len(values) / 60, 1) if values else None,
            p90_minutes=round(percentile(values, 90) / 60, 1) if values else None))
    per_day = Counter(local_date(d["created_at"]) for d in docs)
    today = local_date(now)
    day_list = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    by_stage = Counter(item.stage for item in overdue)
    return StatsOut(days=days, stages=stages,
                    per_day=[DayCountOut(day=d.isoformat(), bags=per_day.get(d, 0)) for d in day_list],
                    overdue=len(overdue),
                    overdue_by_stage={s: by_stage[s] for s in STAGES if by_stage.get(s)})


def _nice_step(raw: float) -> float:
    """The axis step: the smallest 1, 2 or 5 × 10^k at least `raw` (and at least 1)."""
    if raw <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _bars(x0: float, y0: float, width: float, height: float, labels: list[str],
          series: list[tuple[str, str, list[float | None]]], unit: str, title: str) -> list[str]:
    """One grouped bar chart (each series a colour) inside the given box."""
    out = [f'<text x="{x0}" y="{y0 - 12}" font-size="16" font-weight="600" fill="#1a1a1a">'
           f'{escape(title)}</text>']
    peak = max([v for _, _, vals in series for v in vals if v] or [1.0])
    step = _nice_step(peak * 1.1 / 4)
    top = step * 4
    out.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" stroke="#888"/>')
    for i in range(0, 5):
        value = top * i / 4
        y = y0 + height - height * i / 4
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + width}" y2="{y:.1f}" stroke="#e4e8e7"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                   f'fill="#555">{value:g}</text>')
    group = width / max(1, len(labels))
    bar = group * 0.7 / max(1, len(series))
    for gi, label in enumerate(labels):
        gx = x0 + gi * group + group * 0.15
        for si, (_name, colour, values) in enumerate(series):
            value = values[gi] or 0.0
            h = height * value / top
            out.append(f'<rect x="{gx + si * bar:.1f}" y="{y0 + height - h:.1f}" width="{bar - 1:.1f}" '
                       f'height="{h:.1f}" fill="{colour}">'
                       f'<title>{escape(label)} {value:g}{escape(unit)}</title></rect>')
        out.append(f'<text x="{x0 + gi * group + group / 2:.1f}" y="{y0 + height + 16}" font-size="11" '
                   f'text-anchor="middle" fill="#1a1a1a">{escape(label)}</text>')
    for si, (name, colour, _values) in enumerate(series):
        lx = x0 + width - 150 + si * 75
        out.append(f'<rect x="{lx}" y="{y0 - 24}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{y0 - 14}" font-size="12" fill="#1a1a1a">{escape(name)}</text>')
    return out


def render_svg(stats: StatsOut) -> str:
    """Two charts in one SVG: minutes per stage (avg, P90) and bags per day."""
    width, height = 760, 560
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Noto Sans CJK SC, sans-serif" role="img" '
             f'aria-label="代煎统计图">',
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    parts += _bars(60, 50, 670, 180, [s.label for s in stats.stages],
                   [("平均", "#0a6e5c", [s.avg_minutes for s in stats.stages]),
                    ("P90", "#e08a00", [s.p90_minutes for s in stats.stages])],
                   " 分钟", "各环节耗时（分钟）")
    day_labels = [d.day[5:] for d in stats.per_day]
    parts += _bars(60, 330, 670, 180, day_labels,
                   [("药袋数", "#3a6ea5", [float(d.bags) for d in stats.per_day])],
                   " 袋", f"每日药袋数（近 {stats.days} 天）· 当前超时 {stats.overdue} 袋")
    parts.append("</svg>")
    return "".join(parts)
