"""Fault tests reuse the notify engineer's provider fakes and wiring (tests/notify)."""

from tests.notify.conftest import fresh, wired

__all__ = ["fresh", "wired"]   # pytest fixtures
