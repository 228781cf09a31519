"""Issue 22 findings g, l and o, against the app started in production mode.

g: `[` × 100,000 or `{"a":` × 50,000 unauthenticated → was 500 + traceback; now 400 json_too_deep.
l: the embedded database's files were 0644; now its folder is 0700 and its files 0600.
o: Secure / HttpOnly / SameSite cookies and HSTS were only verified by reading code.
i: /metrics and /api/docs were open to anyone in production.
"""

from __future__ import annotations

import logging
import stat
from http.cookies import SimpleCookie

import httpx
from pymongo import MongoClient

from server.embedded_db import EmbeddedDatabase, free_port
from tests.harness import TEST_ENGINE
from tests.support import patient_client

METRICS_TOKEN = "scrape-token-for-tests-only"
APP_OVERRIDES = {"env": "production", "http.metrics_token": METRICS_TOKEN}


def test_o_production_sets_hsts_on_every_response(app):
    assert not app.settings.development
    for path in ("/healthz", "/api/v1/account", "/h5/login"):
        response = app.http.get(path)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000"), path


def test_o_the_session_cookie_is_secure_httponly_and_samesite_in_production(app):
    client, _ = patient_client(app)
    token = client.headers["Authorization"].removeprefix("Bearer ")
    page = httpx.get(f"{app.url}/h5/patients", cookies={"palm_session": token}, follow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    headers = page.headers.get_list("set-cookie")
    session = [h for h in headers if h.startswith("palm_session=")]
    assert session, headers
    morsel = SimpleCookie(session[0])["palm_session"]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"].lower() == "lax"


def test_g_pathologically_nested_json_is_a_clear_400_not_a_500(app, caplog):
    bodies = ["[" * 100_000, '{"a":' * 50_000, "[" * 40 + "]" * 40]
    with caplog.at_level(logging.ERROR):
        for body in bodies:
            response = app.http.post("/api/v1/auth/sms-code", content=body,
                                     headers={"Content-Type": "application/json"})
            assert response.status_code == 400, response.text[:200]
            error = response.json()["error"]
            assert error["code"] == "json_too_deep" and error["message"] == "请求内容嵌套层级过深"
    uncaught = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not uncaught, [r.getMessage()[:200] for r in uncaught]


def test_g_ordinary_nesting_still_reaches_validation(app):
    response = app.http.post("/api/v1/auth/sms-code", json={"phone": [[["1"]]]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_l_database_folder_and_files_are_private_to_their_user(tmp_path):
    folder = tmp_path / "db"
    database = EmbeddedDatabase(folder, port=free_port(), log_file=folder / "db.log",
                                engine=TEST_ENGINE)
    with MongoClient(database.start().uri) as client:
        client.palm.probe.insert_many([{"n": i} for i in range(50)])
    database.stop()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert database.data_path.exists()
    everything = [folder, *folder.rglob("*")]
    files = [p for p in everything if p.is_file()]
    assert files
    loose = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in everything
             if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert not loose, loose


def test_i_metrics_need_an_allowed_network_or_the_token(app):
    outsider = {"X-Real-Ip": "203.0.113.50"}          # through the trusted local proxy
    refused = app.http.get("/metrics", headers=outsider)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "metrics_forbidden"
    wrong = app.http.get("/metrics", headers={**outsider, "Authorization": "Bearer not-it"})
    assert wrong.status_code == 403
    scraper = app.http.get("/metrics", headers={**outsider, "Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraper.status_code == 200 and "palm_" in scraper.text
    assert app.http.get("/metrics").status_code == 200                 # loopback: the local agent


def test_i_api_docs_are_off_in_production_by_default(app):
    for path in ("/api/docs", "/api/openapi.json"):
        assert app.http.get(path).status_code == 404, path
