"""Fixtures: one embedded database process per session, a fresh database and a real app
per test module, and headless Chromium for page tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from server.embedded_db import EmbeddedDatabase, free_port
from tests.harness import TEST_ENGINE, AppUnderTest, test_settings, unique_db_name

CHROMIUM = os.environ.get("PALM_CHROMIUM", "/usr/bin/chromium")


class ExternalDatabase:
    """A server someone else runs (`PALM_TEST_MONGODB_URI`), e.g. a MongoDB replica set."""

    def __init__(self, uri: str):
        self.uri = uri


@pytest.fixture(scope="session")
def db_server(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedDatabase | ExternalDatabase:
    """The embedded MongoDB-compatible server, as its own process on a free port (one per
    pytest-xdist worker), or the server named by `PALM_TEST_MONGODB_URI`, so the same suite
    runs against MongoDB itself or another engine (each module uses a fresh database)."""
    if os.environ.get("PALM_TEST_MONGODB_URI"):
        yield ExternalDatabase(os.environ["PALM_TEST_MONGODB_URI"])
        return
    folder = tmp_path_factory.mktemp("db")
    database = EmbeddedDatabase(folder, port=free_port(), log_file=folder / "db.log",
                                engine=TEST_ENGINE)
    database.start()
    yield database
    database.stop()


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, db_server: EmbeddedDatabase,
        tmp_path_factory: pytest.TempPathFactory) -> AppUnderTest:
    """The real app on a real socket with a fresh database for this test module.

    A module can set `APP_OVERRIDES = {"section.key": value}` to change settings.
    """
    overrides = getattr(request.module, "APP_OVERRIDES", {})
    settings = test_settings(db_server.uri, tmp_path_factory.mktemp("var"),
                             unique_db_name(request.module.__name__), overrides)
    under_test = AppUnderTest(settings).start()
    yield under_test
    under_test.stop()


@pytest.fixture(scope="module")
def seeded_app(app: AppUnderTest) -> AppUnderTest:
    """The app with the demo hospital group loaded."""
    from services.demo import seed_demo
    app.call(lambda s: seed_demo(s.db, s.catalogue, s.clock))
    return app


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser):
    """A new page in a phone-sized, Chinese-locale browser context."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    yield page
    context.close()
