"""Domain subcommands of run.py (`@command`) and the lines `make run` prints at start.

Each domain registers its commands here, e.g. identity's `create-staff`.
"""

from __future__ import annotations

from server.settings import Settings


def announce_lines(settings: Settings) -> list[str]:
    """Extra start-up lines (e.g. demo credentials in development)."""
    lines: list[str] = []
    lines.extend(_report_lines(settings))
    return lines


def _report_lines(settings: Settings) -> list[str]:
    """Kiosk page and, if the CJK font for printed reports is missing, how to install it."""
    from pathlib import Path

    from services.reports import ReportsConfig

    lines = [f"  自助机页面     {settings.public_url}/kiosk"]
    font = settings.section("reports", ReportsConfig).pdf_font
    if not Path(font).exists():
        lines.append(f"  ⚠ 打印字体缺失 {font}: 报告打印将返回 503 pdf_font_missing；"
                     "run scripts/system-deps.sh (fonts-noto-cjk)")
    return lines
