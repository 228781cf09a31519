"""Who is asking: the actor every service call and audit record is made on behalf of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ActorKind = Literal["anonymous", "patient", "staff", "device"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str | None = None                 # account id, staff id or device key id
    roles: frozenset[str] = field(default_factory=frozenset)   # staff roles / device kind
    label: str = ""                       # masked, printable: "药师 李*", "kiosk-01"
    campus_code: str | None = None
    session_id: str | None = None         # patient/staff session, for logout
    via_cookie: bool = False              # cookie-authenticated (needs XSRF on writes)

    @classmethod
    def anonymous(cls) -> "Actor":
        return cls(kind="anonymous")

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))
