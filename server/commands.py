"""Domain subcommands of run.py (`@command`) and the lines `make run` prints at start.

Each domain registers its commands here, e.g. identity's `create-staff`.
"""

from __future__ import annotations

from server.settings import Settings


def announce_lines(settings: Settings) -> list[str]:
    """Extra start-up lines (e.g. demo credentials in development)."""
    return []
