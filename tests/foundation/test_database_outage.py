"""The embedded database dies under a running server, then comes back.

A dedicated database process (not the session one, which other modules share) and an
app on it. Killing it must turn API calls into a quick 503 `database_unavailable`, and
starting it again on the same port and file must heal the same app process by itself.
"""

from __future__ import annotations

import time

import pytest

from server.embedded_db import EmbeddedDatabase, free_port
from tests.harness import TEST_ENGINE, AppUnderTest, test_settings, unique_db_name

pytestmark = pytest.mark.slow

OUTAGE_ANSWER_SECONDS = 5.0


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("outage-db")
    db = EmbeddedDatabase(folder / "db", port=free_port(), log_file=folder / "db.log",
                          engine=TEST_ENGINE)
    db.start()
    yield db
    db.stop()


@pytest.fixture(scope="module")
def app(database: EmbeddedDatabase, tmp_path_factory: pytest.TempPathFactory):
    settings = test_settings(database.uri, tmp_path_factory.mktemp("var"),
                             unique_db_name("outage"))
    under_test = AppUnderTest(settings).start()
    yield under_test
    if database.process is None:
        database.start()
    under_test.stop()


def timed_get(app: AppUnderTest, path: str):
    started = time.monotonic()
    response = app.http.get(path)
    return response, time.monotonic() - started


def wait_until_ready(app: AppUnderTest, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if app.http.get("/readyz").status_code == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"the app did not recover within {within}s")


def test_killed_database_gives_quick_503s_then_the_same_process_recovers(app, database):
    app.db.campuses.insert_one({"code": "north", "name": "北院区", "address": "北京路 1 号",
                                "phone": "", "is_main": True, "order": 1})
    assert [c["name"] for c in app.http.get("/api/v1/campuses").json()] == ["北院区"]
    assert app.http.get("/readyz").status_code == 200

    database.kill()  # SIGKILL: no clean shutdown

    ready, took = timed_get(app, "/readyz")
    assert ready.status_code == 503 and took < OUTAGE_ANSWER_SECONDS
    assert ready.json()["error"]["code"] == "database_unavailable"

    for _ in range(2):  # the first call meets the dead connection, the next a dead server
        response, took = timed_get(app, "/api/v1/campuses")
        assert response.status_code == 503, response.text
        assert took < OUTAGE_ANSWER_SECONDS, f"took {took:.1f}s"
        error = response.json()["error"]
        assert error["code"] == "database_unavailable" and error["message"]
        assert response.headers["X-Request-Id"]

    page, took = timed_get(app, "/h5/")
    assert page.status_code == 503 and took < OUTAGE_ANSWER_SECONDS
    assert "系统繁忙" in page.text

    assert app.http.get("/healthz").status_code == 200  # the process itself is fine

    database.start()  # same port, same file
    wait_until_ready(app, within=15)

    assert [c["name"] for c in app.http.get("/api/v1/campuses").json()] == ["北院区"]
    assert app.http.get("/h5/").status_code == 200
