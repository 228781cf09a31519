"""Fixtures for notification tests: local provider fakes and an app pointed at them.

A module sets `PROVIDERS = {"sms": "aliyun", "subscribe": "wechat", ...}` and optionally
`NOTIFY_OVERRIDES = {"notify.key": value}`; `wired` gives `(app, fakes)` sharing one
test clock, so providers check timestamps against the time the app believes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.clock import SettableClock
from tests.harness import START, AppUnderTest, test_settings, unique_db_name
from tests.notify.fakes import FakeProviders


@dataclass
class Wired:
    app: AppUnderTest
    fakes: FakeProviders

    def dispatch(self, limit: int = 100) -> int:
        return self.app.call(lambda s: s.notify.dispatch_due(limit))

    def restart(self) -> None:
        """Stop the app keeping its database; start a new process image on it."""
        old = self.app
        old.stop(drop=False)
        self.app = AppUnderTest(old.settings, clock=old.clock, secrets=old.secrets).start()

    def second_app(self) -> AppUnderTest:
        """Another app (another dispatcher) on the same database, clock and keys."""
        return AppUnderTest(self.app.settings, clock=self.app.clock,
                            secrets=self.app.secrets).start()

    def message(self, message_id: str) -> dict:
        from bson import ObjectId
        return self.app.db.notify_messages.find_one({"_id": ObjectId(message_id)})


@pytest.fixture(scope="module")
def wired(request: pytest.FixtureRequest, db_server, tmp_path_factory) -> Wired:
    clock = SettableClock(START)
    fakes = FakeProviders(clock).start()
    providers = getattr(request.module, "PROVIDERS", {"sms": "aliyun"})
    overrides = {**fakes.overrides(**providers),
                 **getattr(request.module, "NOTIFY_OVERRIDES", {})}
    settings = test_settings(db_server.uri, tmp_path_factory.mktemp("var"),
                             unique_db_name(request.module.__name__), overrides)
    app = AppUnderTest(settings, clock=clock).start()
    holder = Wired(app, fakes)
    yield holder
    holder.app.stop()
    fakes.stop()


@pytest.fixture
def fresh(wired: Wired) -> Wired:
    """The module's wired app with the fakes reset (no queued failures, nothing delivered)."""
    wired.fakes.reset()
    return wired
