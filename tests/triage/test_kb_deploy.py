"""A new knowledge-base file in a deploy: it becomes active unless an admin's edit is active."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import AppUnderTest
from tests.support import staff_client

KB_FILE = Path(__file__).resolve().parents[2] / "config" / "triage" / "kb.json"


def variant(tmp_path: Path, name: str, synonym: str) -> Path:
    kb = json.loads(KB_FILE.read_text(encoding="utf-8"))
    kb["symptoms"]["腹泻"]["synonyms"].append(synonym)
    path = tmp_path / name
    path.write_text(json.dumps(kb, ensure_ascii=False), encoding="utf-8")
    return path


def deploy(app: AppUnderTest, kb_path: Path) -> None:
    """Start (and stop) another process on the same database with this file."""
    AppUnderTest(app.settings.with_overrides({"triage.kb_path": str(kb_path)})).start().stop(drop=False)


def state(app) -> tuple[int, list[tuple[int, str]]]:
    versions = [(d["version"], d["source"]) for d in app.db.triage_kb_versions.find().sort("version", 1)]
    return app.db.triage_kb_state.find_one({"_id": "active"})["version"], versions


def test_a_changed_file_replaces_the_file_version_but_never_an_admins(app, tmp_path):
    assert state(app) == (1, [(1, "file")])
    deploy(app, variant(tmp_path, "v2.json", "窜稀"))
    assert state(app) == (2, [(1, "file"), (2, "file")])

    admin = staff_client(app, "admin")
    kb = admin.get("/api/v1/admin/triage/kb").json()["kb"]
    kb["symptoms"]["腹泻"]["synonyms"].append("闹肚子啦")
    assert admin.put("/api/v1/admin/triage/kb", json={"base_version": 2, "kb": kb}).status_code == 200
    assert state(app)[0] == 3

    newer = variant(tmp_path, "v4.json", "跑肚拉稀")
    deploy(app, newer)
    assert state(app) == (3, [(1, "file"), (2, "file"), (3, "admin"), (4, "file")])
    deploy(app, newer)                                    # the same file again: nothing new
    assert len(state(app)[1]) == 4
