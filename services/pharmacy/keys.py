"""Small shared pieces of the pharmacy service: the compare-and-set key, lookups, actors."""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from bson import ObjectId
from bson.errors import InvalidId

from services.actors import Actor
from services.errors import NotFound

TOKEN_PURPOSE = "decoction"
BILLING_ACTOR = Actor(kind="device", id="billing", roles=frozenset({"billing"}), label="收费结算")


def not_found() -> NotFound:
    return NotFound("prescription_not_found", "未找到该处方")


def object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise not_found() from None


def state_key(prescription_id: ObjectId, stage: str, version: int) -> str:
    """The compare-and-set key of a bag: its id, current stage and version (`next_n`,
    which every step and every undo increases).

    Every stage change filters on the key it read and writes the new one, so the update
    is conditional on the current stage in ONE indexed equality; a reader who saw the
    bag before any other change (even an undo back to the same stage) matches nothing."""
    return f"{prescription_id}:{stage}:{version}"


def field_of(obj: Any, name: str) -> Any:
    """A field of a bill whether it is a mapping or an object."""
    if isinstance(obj, Mapping):
        if name == "id" and "id" not in obj:
            return obj.get("_id")      # billing hands listeners its stored document
        return obj.get(name)
    return getattr(obj, name, None)
