"""TriageService: the active knowledge-base version, its engine, and the admins' edits.

Collections (owned here):
    triage_kb_versions  {_id, version (unique), kb_json, sha256, source: file|admin, note,
                         created_at, created_by}
    triage_kb_state     {_id: "active", version, updated_at, updated_by}

Start-up: the repository's file (config/triage/kb.json) is read and compiled before the
first request. `ensure_indexes` then stores it as a version when that exact content is not
stored yet, and makes it active unless an admin's edit is active (an admin's version wins
until an admin activates another one). Every process re-reads the one-document pointer at
most every `kb_refresh_seconds`, so an edit made through any process reaches all of them
without a restart; the process that took the edit switches at once.

Edits are optimistic: a PUT names the version it was based on and fails with 409
`kb_version_conflict` when another admin got there first (one conditional update of the
pointer decides).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.actors import Actor
from services.catalogue import CatalogueService
from services.clock import Clock
from services.errors import Conflict, InvalidRequest, NotFound
from services.triage.engine import Engine, TriageQuery
from services.triage.kb import KnowledgeBase, load_kb_file, validate_kb
from services.triage.mapping import DepartmentMap

log = logging.getLogger("palm.triage")

ACTIVE = "active"


class TriageConfig(BaseModel):
    kb_path: str = "config/triage/kb.json"     # relative to the repository root
    kb_refresh_seconds: float = Field(5.0, ge=0)
    department_cache_seconds: float = Field(30.0, ge=0)
    max_departments: int = Field(3, ge=1, le=5)
    max_questions: int = Field(2, ge=0, le=5)
    max_text_chars: int = Field(500, ge=20, le=5000)


@dataclass(frozen=True)
class _Active:
    version: int
    kb: KnowledgeBase
    engine: Engine


class KbVersionOut(BaseModel):
    version: int
    source: str
    note: str = ""
    sha256: str
    created_at: datetime
    created_by: str = ""
    active: bool = False


class KbOut(KbVersionOut):
    kb: dict[str, Any]


def _canonical(kb: KnowledgeBase) -> tuple[str, str]:
    text = json.dumps(kb.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()


def _version_number(value: int | str) -> int:
    """A version number from a URL; anything else is simply not found."""
    text = str(value)
    if not text.isdigit() or len(text) > 9:
        raise NotFound("kb_version_not_found", "未找到该版本的知识库")
    return int(text)


class TriageService:
    def __init__(self, db: AsyncDatabase, catalogue: CatalogueService, clock: Clock,
                 config: TriageConfig, root: Path):
        self.versions = db["triage_kb_versions"]
        self.state = db["triage_kb_state"]
        self.catalogue = catalogue
        self.clock = clock
        self.config = config
        path = Path(config.kb_path)
        self.kb_path = path if path.is_absolute() else root / path
        kb, _raw = load_kb_file(self.kb_path)           # a broken file fails start-up, loudly
        self._active = _Active(0, kb, self._engine(kb))
        self._checked = 0.0
        self._departments: tuple[int, float, DepartmentMap] | None = None

    def _engine(self, kb: KnowledgeBase) -> Engine:
        return Engine(kb, self.config.max_departments, self.config.max_questions)

    async def ensure_indexes(self) -> None:
        await self.versions.create_index("version", unique=True)
        await self.versions.create_index("sha256")
        await self._import_file()

    # -- versions ----------------------------------------------------------------------
    async def _import_file(self) -> None:
        """Store the repository's knowledge base as a version if new; activate it unless an
        admin's edit is active."""
        text, sha = _canonical(self._active.kb)
        stored = await self.versions.find_one({"sha256": sha}, {"version": 1})
        if stored is None:
            version = await self._insert_version(text, sha, "file", "仓库文件 " + self.kb_path.name, "system")
        else:
            version = stored["version"]
        state = await self.state.find_one({"_id": ACTIVE})
        if state is None:
            try:
                await self.state.insert_one({"_id": ACTIVE, "version": version,
                                             "updated_at": self.clock.now(), "updated_by": "system"})
            except DuplicateKeyError:
                pass                    # another process bootstrapped at the same moment
        elif state["version"] != version:
            current = await self.versions.find_one({"version": state["version"]}, {"source": 1})
            if current is None or current.get("source") == "file":
                await self.state.update_one({"_id": ACTIVE, "version": state["version"]},
                                            {"$set": {"version": version, "updated_at": self.clock.now(),
                                                      "updated_by": "system"}})
            else:
                log.warning("triage knowledge base: the repository file differs from the active "
                            "admin version %s; the admin version stays active", state["version"])
        await self.refresh(force=True)

    async def _insert_version(self, text: str, sha: str, source: str, note: str, by: str) -> int:
        for _attempt in range(5):
            last = await self.versions.find_one({}, {"version": 1}, sort=[("version", -1)])
            version = (last["version"] if last else 0) + 1
            try:
                await self.versions.insert_one({
                    "version": version, "kb_json": text, "sha256": sha, "source": source,
                    "note": note, "created_at": self.clock.now(), "created_by": by})
                return version
            except DuplicateKeyError:
                continue                # someone took that number; take the next
        raise Conflict("kb_version_conflict", "知识库正在被他人更新，请稍后重试")

    async def refresh(self, force: bool = False) -> None:
        """Follow the active-version pointer (at most every kb_refresh_seconds)."""
        now = time.monotonic()
        if not force and now - self._checked < self.config.kb_refresh_seconds:
            return
        self._checked = now
        state = await self.state.find_one({"_id": ACTIVE})
        if state is None or state["version"] == self._active.version:
            return
        doc = await self.versions.find_one({"version": state["version"]})
        if doc is None:
            return
        kb = validate_kb(json.loads(doc["kb_json"]))
        self._active = _Active(doc["version"], kb, self._engine(kb))
        log.info("triage knowledge base version %s active", doc["version"])

    async def get_kb(self, version: int | str | None = None) -> KbOut:
        """One stored version (default: the active one) with its content."""
        await self.refresh(force=True)
        wanted = self._active.version if version is None else _version_number(version)
        doc = await self.versions.find_one({"version": wanted})
        if doc is None:
            raise NotFound("kb_version_not_found", "未找到该版本的知识库")
        return KbOut(**self._meta(doc), kb=json.loads(doc["kb_json"]))

    async def list_versions(self, limit: int = 50) -> list[KbVersionOut]:
        """Stored versions, newest first (without their content)."""
        await self.refresh(force=True)
        docs = await self.versions.find({}, {"kb_json": 0}).sort([("version", -1)]).limit(limit).to_list()
        return [KbVersionOut(**self._meta(d)) for d in docs]

    def _meta(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"version": doc["version"], "source": doc["source"], "note": doc.get("note", ""),
                "sha256": doc["sha256"], "created_at": doc["created_at"],
                "created_by": doc.get("created_by", ""), "active": doc["version"] == self._active.version}

    async def check_update_kb(self, data: dict[str, Any], base_version: int, note: str,
                              actor: Actor) -> KbVersionOut:
        """Validate an admin's knowledge base, store it as a new version and activate it,
        provided `base_version` is still the active one (else 409 kb_version_conflict)."""
        kb = validate_kb(data)
        self._engine(kb)                                # it must compile, too
        await self.refresh(force=True)
        if base_version != self._active.version:
            raise self._conflict()
        text, sha = _canonical(kb)
        version = await self._insert_version(text, sha, "admin", note, actor.label or actor.id or "")
        if not await self._move_pointer(base_version, version, actor):
            await self.versions.delete_one({"version": version, "source": "admin"})
            raise self._conflict()
        self._active = _Active(version, kb, self._engine(kb))
        return (await self.list_versions(1))[0]

    async def activate_version(self, version: int | str, base_version: int, actor: Actor) -> KbVersionOut:
        """Make a stored version active again (roll back), if `base_version` is still active."""
        version = _version_number(version)
        doc = await self.versions.find_one({"version": version})
        if doc is None:
            raise NotFound("kb_version_not_found", "未找到该版本的知识库")
        kb = validate_kb(json.loads(doc["kb_json"]))
        await self.refresh(force=True)
        if base_version != self._active.version or not await self._move_pointer(base_version, version, actor):
            raise self._conflict()
        self._active = _Active(version, kb, self._engine(kb))
        return KbVersionOut(**self._meta(doc))

    async def _move_pointer(self, expected: int, version: int, actor: Actor) -> bool:
        moved = await self.state.find_one_and_update(
            {"_id": ACTIVE, "version": expected},
            {"$set": {"version": version, "updated_at": self.clock.now(),
                      "updated_by": actor.label or actor.id or ""}})
        return moved is not None

    def _conflict(self) -> Conflict:
        return Conflict("kb_version_conflict", "知识库已被他人更新，请刷新后再修改",
                        details={"active_version": self._active.version})

    # -- triage ------------------------------------------------------------------------
    async def _department_map(self) -> DepartmentMap:
        active = self._active
        now = time.monotonic()
        cached = self._departments
        if cached and cached[0] == active.version and now - cached[1] < self.config.department_cache_seconds:
            return cached[2]
        mapping = DepartmentMap(active.kb, await self.catalogue.department_docs())
        self._departments = (active.version, now, mapping)
        return mapping

    async def triage(self, query: TriageQuery) -> dict[str, Any]:
        """Departments (or the emergency) and follow-up questions for a patient's words."""
        if len(query.text) > self.config.max_text_chars:
            raise InvalidRequest("text_too_long", f"描述请控制在 {self.config.max_text_chars} 字以内",
                                 details={"max_chars": self.config.max_text_chars})
        await self.refresh()
        mapping = await self._department_map()
        result = self._active.engine.triage(query, mapping)
        result["kb_version"] = self._active.version
        return result

    def body_map(self) -> list[dict[str, Any]]:
        """Body parts with the symptoms a patient can tap (for the page's body map)."""
        kb = self._active.kb
        return [{"name": name, "symptoms": part.symptoms}
                for name, part in kb.body_parts.items() if part.symptoms]
