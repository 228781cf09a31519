"""Demo data for trying the pharmacist station in development: two staff accounts and a
few bags at different stages (`run.py demo-pharmacy`)."""

from __future__ import annotations

import secrets
from typing import Any

from services.actors import Actor
from services.clock import local_date
from services.pharmacy.models import AdvanceIn, PrescriptionIn

DEMO_HIS = Actor(kind="device", id="demo-his", roles=frozenset({"his"}), label="HIS 演示")
DEMO_PHARMACIST = Actor(kind="staff", id="demo", roles=frozenset({"pharmacist"}), label="药师 演*")

HERBS = [{"name": "黄芪", "grams": 30}, {"name": "党参", "grams": 15}, {"name": "白术", "grams": 12},
         {"name": "生石膏", "grams": 30, "handling": "先煎"},
         {"name": "薄荷", "grams": 6, "handling": "后下"},
         {"name": "车前子", "grams": 15, "handling": "包煎"},
         {"name": "阿胶", "grams": 9, "handling": "烊化"}]

# (patient, mode, delivery, stages to walk)
BAGS = [
    ("张建国", "pharmacy", "pickup", []),
    ("李秀英", "pharmacy", "pickup", ["reviewed"]),
    ("王海峰", "pharmacy", "courier", ["reviewed", "dispensed"]),
    ("赵静怡", "pharmacy", "pickup", ["reviewed", "dispensed", "checked"]),
    ("陈立新", "pharmacy", "pickup", ["reviewed", "dispensed", "checked", "soaking"]),
    ("周雅琴", "self", "pickup", ["reviewed", "dispensed", "checked", "ready_for_pickup"]),
]


async def seed_pharmacy_demo(services: Any) -> dict[str, Any]:
    """Create a supervisor (new password) and today's demo bags (once)."""
    accounts = []
    for role, name in (("pharmacy_supervisor", "演示主管"),):   # pharmacists: the start-up demo staff
        username, password = f"{role.split('_')[0]}-{secrets.token_hex(2)}", secrets.token_urlsafe(12)
        await services.staff.create_staff(username, name, [role], password)
        accounts.append((role, username, password))
    day = local_date(services.clock.now()).strftime("%Y%m%d")
    bags = []
    for i, (patient, mode, delivery, stages) in enumerate(BAGS, start=1):
        body = PrescriptionIn(
            rx_no=f"DEMO{day}{i:02d}", patient_name=patient, herbs=HERBS[: 3 + i % 5], doses=7,
            mode=mode, delivery=delivery, pickup_window="中药房 3 号窗口" if delivery == "pickup" else None,
            address="浙江省杭州市西湖区文三路 90 号" if delivery == "courier" else None,
            doctor="演示医生", department="中医内科")
        out = await services.pharmacy.receive_prescription(DEMO_HIS, body, source="demo")
        rx = out.prescription
        if out.created:
            for stage in stages:
                rx = await services.pharmacy.advance(DEMO_PHARMACIST, rx.id,
                                                     AdvanceIn(to_stage=stage, station="演示"))
        bags.append((rx.rx_no, rx.stage_label, rx.progress_url))
    return {"accounts": accounts, "bags": bags}
