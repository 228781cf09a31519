"""run.py create-staff / create-device, and the demo credentials `make run` prints."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from server.commands import announce_lines, create_device, create_staff
from tests.support import DeviceAuth

ROOT = Path(__file__).resolve().parents[2]


def staff_login(app, username, password):
    return httpx.post(f"{app.url}/api/v1/staff/login", json={"username": username, "password": password})


def test_development_start_seeds_and_prints_working_demo_credentials(app):
    lines = app.call(lambda s: announce_lines(app.settings, s))
    text = "\n".join(lines)
    admin = re.search(r"用户名 demo-admin\s+密码 (\S+)", text).group(1)
    pharmacist = re.search(r"用户名 demo-pharmacist\s+密码 (\S+)", text).group(1)
    secret = re.search(r"X-Palm-Key-Id kiosk-demo\s+密钥 (\S+)", text).group(1)
    assert staff_login(app, "demo-admin", admin).json()["staff"]["roles"] == ["admin"]
    assert staff_login(app, "demo-pharmacist", pharmacist).json()["staff"]["roles"] == ["pharmacist"]
    kiosk = httpx.Client(base_url=app.url, auth=DeviceAuth("kiosk-demo", secret,
                                                            lambda: app.clock.now().timestamp()))
    resolved = kiosk.post("/api/v1/visit-codes/resolve", json={"token": "a.b"})
    assert resolved.status_code == 422          # signature accepted, the code is just bogus
    # idempotent: a restart prints the same credentials and creates nothing new
    staff_count = app.db.staff.count_documents({})
    assert app.call(lambda s: announce_lines(app.settings, s)) == lines
    assert app.db.staff.count_documents({}) == staff_count
    assert app.db.devices.count_documents({"_id": "kiosk-demo"}) == 1


def test_production_start_seeds_and_prints_no_credentials(app):
    production = app.settings.with_overrides({"env": "production"})
    app.db.staff.delete_many({"username": {"$regex": "^demo-"}})
    assert app.call(lambda s: announce_lines(production, s)) == []
    assert app.db.staff.count_documents({"username": {"$regex": "^demo-"}}) == 0


def test_create_staff_then_log_in_duplicates_refused(app, capsys):
    args = argparse.Namespace(username="wang.pharm", name="王药师", roles="pharmacist,admin",
                              password="a-long-password-1", campus=None)
    assert app.call(lambda s: create_staff(s, args)) == 0
    assert "roles admin,pharmacist" in capsys.readouterr().out
    assert staff_login(app, "wang.pharm", "a-long-password-1").status_code == 200
    assert app.call(lambda s: create_staff(s, args)) == 2
    assert "staff_exists" in capsys.readouterr().out
    weak = argparse.Namespace(**{**vars(args), "username": "weak", "password": "short"})
    assert app.call(lambda s: create_staff(s, weak)) == 2


def test_create_device_prints_a_key_that_signs_requests(app, capsys):
    args = argparse.Namespace(kind="display", name="内科3诊室", campus="main")
    assert app.call(lambda s: create_device(s, args)) == 0
    out = capsys.readouterr().out
    key_id = re.search(r"key id:\s+(\S+)", out).group(1)
    secret = re.search(r"secret:\s+(\S+)", out).group(1)
    display = httpx.Client(base_url=app.url, auth=DeviceAuth(key_id, secret,
                                                             lambda: app.clock.now().timestamp()))
    assert display.post("/api/v1/visit-codes/resolve", json={"token": "a.b"}).status_code == 422


def test_run_py_create_staff_from_the_command_line(app, tmp_path):
    env = {**os.environ, "PALM_ENV": "test", "MONGODB_URI": app.settings.database_uri,
           "PALM_DB_NAME": app.settings.db.name, "PALM_VAR_DIR": str(tmp_path),
           "PALM_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "run.py", "create-staff", "--username", "cli.nurse",
                           "--name", "赵护士", "--roles", "nurse", "--password", "cli-password-1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert staff_login(app, "cli.nurse", "cli-password-1").json()["staff"]["roles"] == ["nurse"]
