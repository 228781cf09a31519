"""The test harness: the real app on a real socket, on the embedded database.

`AppUnderTest` runs the assembled Tornado app (server/startup.py `running()`, exactly as
`run.py serve` does) in a thread with its own event loop, listening on a free port.
Tests talk to it over HTTP with httpx, read raw documents with a synchronous pymongo
client, and call services on the app's own loop with `app.call(...)`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
from pymongo import MongoClient
from pymongo.monitoring import CommandListener

from server.app import make_app
from server.embedded_db import DEFAULT_ENGINE
from server.container import Services
from server.secrets import Secrets
from server.settings import Settings, load_settings
from server.startup import running
from services.clock import SettableClock, at_local, local_date



def harness_start(real_now: datetime) -> datetime:
    """09:00 Asia/Shanghai on the first Monday-to-Friday that begins more than 12 hours after
    `real_now`: a working morning inside release windows, derived from the calendar.

    The whole start day lies in the real future, so nothing a test stores with a lifetime
    (codes, sessions, nonces, holds) is already past for the database's TTL monitor, which
    collects by the wall clock, even when a test sets the clock to early that morning or the
    suite runs for a while. Tests that need a weekday, a month end or a holiday derive it from
    here (or move the whole stack with libfaketime); none names a literal date.
    """
    day = local_date(real_now + timedelta(hours=12)) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return at_local(day, time(9, 0))


# The embedded engine the suite runs on: the default, or PALM_DB_ENGINE (e.g. mongoeco).
TEST_ENGINE = os.environ.get("PALM_DB_ENGINE", DEFAULT_ENGINE)

# Computed once per test process, so every module agrees on "today".
START = harness_start(datetime.now(UTC))
START_DAY = local_date(START)


def test_settings(mongodb_uri: str, var_dir: Path, db_name: str,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    base = load_settings(environ={"PALM_ENV": "test", "MONGODB_URI": mongodb_uri,
                                  "PALM_VAR_DIR": str(var_dir), "PALM_DB_NAME": db_name,
                                  "PALM_LOG_LEVEL": "WARNING"})
    return base.with_overrides({"http.port": 0, **(overrides or {})})


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a test when imported by one


class AppUnderTest:
    def __init__(self, settings: Settings, clock: SettableClock | None = None,
                 secrets: Secrets | None = None,
                 command_listeners: Sequence[CommandListener] = ()):
        self.settings = settings
        self.command_listeners = tuple(command_listeners)
        self.clock = clock or SettableClock(START)
        self.secrets = secrets or Secrets.generate()
        self.services: Services | None = None
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._sync_client = MongoClient(settings.database_uri, tz_aware=True)
        self.http: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self):
        """A synchronous view of the app's database, for reading raw documents."""
        return self._sync_client[self.settings.db.name]

    def start(self) -> "AppUnderTest":
        self._thread = threading.Thread(target=self._run, name="app-under-test", daemon=True)
        self._thread.start()
        self._ready.result(timeout=60)
        self.http = httpx.Client(base_url=self.url, timeout=30.0)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # surface start-up failures to the test
            if not self._ready.done():
                self._ready.set_exception(error)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # bind first so settings.public_url (callbacks, links) names the real port
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.settings = self.settings.with_overrides({"http.port": self.port})
        async with running(self.settings, clock=self.clock, secrets=self.secrets,
                           command_listeners=self.command_listeners) as services:
            self.services = services
            server = tornado.httpserver.HTTPServer(make_app(services), xheaders=True,
                                                   max_body_size=16 * 1024 * 1024)
            server.add_sockets(sockets)
            self._ready.set_result(None)
            await self._stop.wait()
            server.stop()
            await server.close_all_connections()

    def call[T](self, awaitable_or_fn: Awaitable[T] | Callable[[Services], Awaitable[T]],
                timeout: float = 60) -> T:
        """Run a coroutine on the app's loop: `app.call(lambda s: s.catalogue.list_campuses())`."""
        assert self._loop is not None and self.services is not None

        async def runner() -> T:
            if callable(awaitable_or_fn):
                return await awaitable_or_fn(self.services)
            return await awaitable_or_fn

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout)

    def stop(self, drop: bool = True) -> None:
        if self.http is not None:
            self.http.close()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if drop:
            self._sync_client.drop_database(self.settings.db.name)
        self._sync_client.close()


def unique_db_name(prefix: str) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in prefix)[-40:]
    return f"t_{clean}_{uuid.uuid4().hex[:8]}"
