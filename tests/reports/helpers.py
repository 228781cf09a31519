"""Building blocks for report tests: a patient with a hospital card, LIS payloads."""

from __future__ import annotations

import itertools
import json
from datetime import date
from typing import Any

from tests.harness import START_DAY
from tests.support import add_patient, new_phone, patient_client

_numbers = itertools.count(1)


def new_report_id(prefix: str = "LIS") -> str:
    return f"{prefix}-{next(_numbers):06d}-{new_phone()[-4:]}"


def family(app, name: str = "王建国", sex: str = "male", birth: date = date(1958, 3, 9),
           card_no: str | None = None):
    """A logged-in account with one family member; returns (client, account_id, patient, phone)."""
    phone = new_phone()
    client, account_id = patient_client(app)
    patient = add_patient(app, client, name=name, sex=sex, birth=birth, phone=phone)
    if card_no:
        app.call(lambda s: s.identity.bind_hospital_card(patient["id"], card_no))
    return client, account_id, patient, phone


def lab(patient_id: str | None = None, report_id: str | None = None, status: str = "final",
        items: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "LIS", "report_id": report_id or new_report_id(), "kind": "lab", "status": status,
        "title": "血常规+电解质", "department": "检验科", "specimen": "静脉血",
        "collected_at": f"{START_DAY}T08:05:00+08:00", "reported_at": f"{START_DAY}T09:20:00+08:00",
        "items": items if items is not None else [
            {"code": "HGB", "name": "血红蛋白", "value": "135", "unit": "g/L", "reference_range": "130-175"},
            {"code": "WBC", "name": "白细胞计数", "value": "11.2", "unit": "10^9/L",
             "reference_range": "3.5-9.5"},
            {"code": "PLT", "name": "血小板计数", "value": 95, "unit": "10^9/L",
             "reference_range": "125-350", "flag": "偏低"},
            {"code": "GLU", "name": "葡萄糖", "value": "5.1", "unit": "mmol/L", "reference_range": "3.9-6.1"},
        ],
        **extra,
    }
    if patient_id is not None:
        body.setdefault("patient_id", patient_id)
    return body


def exam(patient_id: str, report_id: str | None = None, status: str = "final",
         **extra: Any) -> dict[str, Any]:
    return {"source": "PACS", "report_id": report_id or new_report_id("PACS"), "kind": "exam",
            "status": status, "patient_id": patient_id, "title": "胸部CT平扫", "department": "放射科",
            "collected_at": f"{START_DAY}T08:30:00+08:00", "reported_at": f"{START_DAY}T10:00:00+08:00",
            "exam": {"exam": "胸部CT平扫", "body_part": "胸部",
                     "findings": "双肺纹理清晰，未见明显实质性病变。纵隔居中。",
                     "impression": "胸部CT平扫未见明显异常。"}, **extra}


def messages(app, template: str | None = None, phone: str | None = None) -> list[dict[str, Any]]:
    """Raw outbox documents (what notify will deliver)."""
    query: dict[str, Any] = {}
    if template:
        query["template"] = template
    if phone:
        index = app.call(lambda s: _index(s, phone))
        query["phone_index"] = index
    docs = list(app.db["notify_messages"].find(query))
    for doc in docs:   # the outbox keeps message params encrypted
        if set(doc["params"]) == {"k", "n", "c"}:
            doc["params"] = app.call(lambda s, p=doc["params"]: _decrypt(s, p))
    return docs


async def _index(services, phone: str) -> str:
    return services.cipher.blind_index(phone, "phone")


async def _decrypt(services, stored) -> dict[str, Any]:
    return json.loads(services.cipher.decrypt(stored, aad="params") or "{}")


def access_log(app, patient_id: str) -> list[dict[str, Any]]:
    """The patient's access log as identity's access-log API reads it (services/audit.py)."""
    return app.call(lambda s: s.audit.access_log(patient_id))
