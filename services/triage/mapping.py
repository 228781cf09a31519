"""Knowledge-base departments onto the hospital's own department tree.

A knowledge-base department (呼吸内科, aliases 呼吸科、呼吸与危重症医学科) is the hospital's
department with that name or an alias; a hospital without it gets the knowledge base's
`parent` (乳腺外科 → 普外科 → 外科), recursively, so a recommendation always points at a
department that exists. Sub-departments win over top-level ones of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.triage.kb import KnowledgeBase


@dataclass(frozen=True, slots=True)
class HospitalDepartment:
    id: str
    name: str
    kb_name: str            # the knowledge-base department it was matched as


class DepartmentMap:
    def __init__(self, kb: KnowledgeBase, docs: list[dict[str, Any]]):
        by_name: dict[str, dict[str, Any]] = {}
        # leaves first so that a sub-department beats a top-level namesake
        for doc in sorted(docs, key=lambda d: (d.get("parent_id") is None, d.get("order", 0))):
            by_name.setdefault(str(doc["name"]).strip(), doc)
        self._direct: dict[str, HospitalDepartment] = {}
        for name, dept in kb.departments.items():
            for candidate in (name, *dept.aliases):
                doc = by_name.get(candidate)
                if doc is not None:
                    self._direct[name] = HospitalDepartment(str(doc["_id"]), doc["name"], name)
                    break
        self._resolved: dict[str, HospitalDepartment | None] = {}
        for name in kb.departments:
            cur: str | None = name
            seen: set[str] = set()
            found = None
            while cur is not None and cur not in seen:
                seen.add(cur)
                found = self._direct.get(cur)
                if found is not None:
                    break
                cur = kb.departments[cur].parent
            self._resolved[name] = found

    def resolve(self, kb_department: str) -> HospitalDepartment | None:
        """The hospital department for a knowledge-base department (or its nearest parent)."""
        return self._resolved.get(kb_department)
