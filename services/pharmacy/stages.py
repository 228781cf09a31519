"""The decoction stage machine, as explicit tables.

代煎 (mode "pharmacy", the pharmacy decocts):
    [awaiting_payment 待缴费 →] received 已收方 → reviewed 审方 → dispensed 调配 → checked 复核 → soaking 浸泡
    → decocting 煎煮 → packed 包装 → ready_for_pickup 待取药 | shipped 已发货 → completed
自煎 (mode "self", the patient decocts at home) skips soaking, decocting and packing:
    received → reviewed → dispensed → checked → ready_for_pickup | shipped → completed

awaiting_payment is where a prescription the patient still has to pay online waits;
only billing's settlement moves it on (`PharmacyService.release_paid_prescription`).
Which of ready_for_pickup / shipped applies is decided by the delivery method (pick-up
window or courier), so from any stage there is exactly one next stage. A move is legal
only if it is in TRANSITIONS[mode][current] AND allowed for the delivery method.
"""

from __future__ import annotations

from typing import Literal

Stage = Literal["awaiting_payment", "received", "reviewed", "dispensed", "checked", "soaking", "decocting",
                "packed", "ready_for_pickup", "shipped", "completed"]
Mode = Literal["pharmacy", "self"]
Delivery = Literal["pickup", "courier"]

STAGES: tuple[str, ...] = ("awaiting_payment", "received", "reviewed", "dispensed", "checked", "soaking",
                           "decocting", "packed", "ready_for_pickup", "shipped", "completed")

STAGE_LABELS: dict[str, str] = {
    "awaiting_payment": "待缴费", "received": "已收方", "reviewed": "审方", "dispensed": "调配",
    "checked": "复核",
    "soaking": "浸泡", "decocting": "煎煮", "packed": "包装", "ready_for_pickup": "待取药",
    "shipped": "已发货", "completed": "已完成",
}

# What a pharmacist does to move a bag INTO a stage (the station's button text).
ACTION_LABELS: dict[str, str] = {
    "reviewed": "审方通过", "dispensed": "调配完成", "checked": "复核通过", "soaking": "开始浸泡",
    "decocting": "开始煎煮", "packed": "包装完成", "ready_for_pickup": "放入待取药",
    "shipped": "快递发货", "completed": "确认取药/签收",
}

MODE_LABELS: dict[str, str] = {"pharmacy": "代煎", "self": "自煎"}
DELIVERY_LABELS: dict[str, str] = {"pickup": "窗口自取", "courier": "快递配送"}

# mode → current stage → allowed next stages
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "pharmacy": {
        "awaiting_payment": ("received",),
        "received": ("reviewed",),
        "reviewed": ("dispensed",),
        "dispensed": ("checked",),
        "checked": ("soaking",),
        "soaking": ("decocting",),
        "decocting": ("packed",),
        "packed": ("ready_for_pickup", "shipped"),
        "ready_for_pickup": ("completed",),
        "shipped": ("completed",),
        "completed": (),
    },
    "self": {
        "awaiting_payment": ("received",),
        "received": ("reviewed",),
        "reviewed": ("dispensed",),
        "dispensed": ("checked",),
        "checked": ("ready_for_pickup", "shipped"),
        "ready_for_pickup": ("completed",),
        "shipped": ("completed",),
        "completed": (),
    },
}

# Stages only billing may move a bag into (never a pharmacist's scan).
PAYMENT_ONLY = frozenset({"received"})

# Stages only one delivery method may enter.
DELIVERY_ONLY: dict[str, str] = {"ready_for_pickup": "pickup", "shipped": "courier"}

# Stages after which the patient can have the medicine ("ready" for estimates).
READY_STAGES = frozenset({"ready_for_pickup", "shipped", "completed"})
# Stages where the bag waits on the patient or the courier, not on the pharmacy.
OUTSIDE_PHARMACY = frozenset({"ready_for_pickup", "shipped", "completed"})


def allowed_next(mode: str, delivery: str, current: str) -> tuple[str, ...]:
    """The stages a bag may move to from `current` (empty when finished)."""
    candidates = TRANSITIONS.get(mode, {}).get(current, ())
    return tuple(s for s in candidates if DELIVERY_ONLY.get(s, delivery) == delivery)


def next_stage(mode: str, delivery: str, current: str) -> str | None:
    """The one next stage of a bag, or None when it is completed."""
    options = allowed_next(mode, delivery, current)
    return options[0] if options else None


def path(mode: str, delivery: str, start: str = "received") -> list[str]:
    """Every stage a bag of this mode and delivery goes through from `start`, in order."""
    stages, current = [start], start
    while (following := next_stage(mode, delivery, current)) is not None:
        stages.append(following)
        current = following
    return stages


def can_move(mode: str, delivery: str, current: str, target: str) -> bool:
    """True when `target` is the legal next step from `current`."""
    return target in allowed_next(mode, delivery, current)
