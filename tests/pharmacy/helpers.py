"""Shared helpers for the pharmacy tests: prescription payloads and service shortcuts."""

from __future__ import annotations

import itertools
from typing import Any

from services.actors import Actor
from services.pharmacy.models import AdvanceIn, PrescriptionIn

PHARMACIST = Actor(kind="staff", id="staff-ph-1", roles=frozenset({"pharmacist"}), label="药师 李*")
HIS = Actor(kind="device", id="his-main", roles=frozenset({"his"}), label="HIS")

_numbers = itertools.count(1)

PHARMACY_PATH = ["reviewed", "dispensed", "checked", "soaking", "decocting", "packed"]
SELF_PATH = ["reviewed", "dispensed", "checked"]


def rx_payload(**overrides: Any) -> dict[str, Any]:
    """A 代煎, pick-up prescription with special handling on two herbs."""
    payload: dict[str, Any] = {
        "rx_no": f"RX{next(_numbers):06d}",
        "patient_name": "王建国",
        "phone": "13800001111",
        "herbs": [{"name": "黄芪", "grams": 30}, {"name": "生石膏", "grams": 20, "handling": "先煎"},
                  {"name": "薄荷", "grams": 6, "handling": "后下"},
                  {"name": "阿胶", "grams": 9, "handling": "烊化"}],
        "doses": 7,
        "mode": "pharmacy",
        "delivery": "pickup",
        "pickup_window": "中药房 3 号窗口",
        "doctor": "张主任",
        "department": "中医内科",
    }
    payload.update(overrides)
    return payload


def receive(app, **overrides: Any):
    """Store a prescription through the service as the HIS would; returns PrescriptionOut."""
    body = PrescriptionIn.model_validate(rx_payload(**overrides))
    return app.call(lambda s: s.pharmacy.receive_prescription(HIS, body)).prescription


def advance(app, prescription_id: str, to_stage: str, actor: Actor = PHARMACIST, **fields: Any):
    body = AdvanceIn(to_stage=to_stage, station=fields.pop("station", "调剂台-1"), **fields)
    return app.call(lambda s: s.pharmacy.advance(actor, prescription_id, body))


def walk(app, prescription_id: str, stages: list[str]):
    """Advance through `stages`, moving the clock past the soaking time when needed."""
    out = None
    for stage in stages:
        if stage == "decocting":
            app.clock.advance(minutes=31)
        out = advance(app, prescription_id, stage)
    return out


def push(his_client, **overrides: Any) -> dict[str, Any]:
    """POST a prescription as the HIS; returns the stored prescription (pharmacist view)."""
    response = his_client.post("/api/v1/his/prescriptions", json=rx_payload(**overrides))
    assert response.status_code == 200 and response.json()["created"], response.text
    return response.json()["prescription"]


def step(client, prescription_id: str, to_stage: str, **fields: Any):
    return client.post(f"/api/v1/pharmacy/prescriptions/{prescription_id}/advance",
                       json={"to_stage": to_stage, "station": "调剂台-1", **fields})


def walk_http(app, client, prescription_id: str, stages: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage in stages:
        if stage == "decocting":
            app.clock.advance(minutes=31)
        response = step(client, prescription_id, stage)
        assert response.status_code == 200, response.text
        out = response.json()
    return out
