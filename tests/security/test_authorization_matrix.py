"""Every API endpoint × every kind of caller → allowed or refused, as its `@api` declares.

The endpoint list comes from the live route table, so a new endpoint is covered the day
it is added: nobody can forget to declare who may call it. "Refused" means 401 (no or
wrong kind of credentials) or 403 (authenticated, wrong role or device kind); "allowed"
means anything else (400 for an empty body, 404 for a made-up id, 200...).
"""

from __future__ import annotations

import re

import httpx
import pytest
from bson import ObjectId

from server.openapi import iter_api_operations
from server.routes import all_routes
from services.identity import ROLES
from tests.support import device_client, patient_client, staff_client

DEVICE_KINDS = ("kiosk", "display", "his")
CALLERS = ["anonymous", "patient", *[f"staff:{r}" for r in ROLES], *[f"device:{k}" for k in DEVICE_KINDS]]

# Public endpoints that authenticate the caller themselves (payment-provider signatures).
SELF_AUTHENTICATED = re.compile(r"^/callbacks/")


def allowed_callers(policy_name: str) -> set[str]:
    allowed: set[str] = set()
    for part in policy_name.split("|"):
        if part == "public":
            allowed.update(CALLERS)
        elif part == "patient":
            allowed.add("patient")
        elif part.startswith("staff:"):
            allowed.update(f"staff:{r}" for r in part[6:].split(","))
        elif part.startswith("device:"):
            allowed.update(f"device:{k}" for k in part[7:].split(","))
        else:
            raise AssertionError(f"unknown auth policy {part!r}")
    return allowed


def operations(app):
    ops = []
    for path, method, handler, spec in iter_api_operations(all_routes(app.settings)):
        ops.append((path, method, handler.__name__, spec.auth.name))
    return ops


@pytest.fixture(scope="module")
def clients(app):
    made = {"anonymous": httpx.Client(base_url=app.url, timeout=30.0),
            "patient": patient_client(app)[0]}
    for role in ROLES:
        made[f"staff:{role}"] = staff_client(app, role)
    for kind in DEVICE_KINDS:
        made[f"device:{kind}"] = device_client(app, kind)
    return made


def test_every_endpoint_declares_a_known_policy(app):
    ops = operations(app)
    assert len(ops) >= 10
    for _path, _method, _name, policy in ops:
        allowed_callers(policy)  # raises for an unknown policy


def test_authorization_matrix(app, clients):
    failures = []
    checked = 0
    for path, method, name, policy in operations(app):
        concrete = re.sub(r"{\w+}", str(ObjectId()), path)
        allowed = allowed_callers(policy)
        for caller in CALLERS:
            kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
            client = clients[caller]
            if caller == "patient" and "/auth/logout" in path:
                client = patient_client(app)[0]   # logging out must not end the shared session
            if caller.startswith("staff:") and "/staff/logout" in path:
                client = staff_client(app, caller[6:])
            response = client.request(method.upper(), concrete, **kwargs)
            refused = response.status_code in (401, 403)
            checked += 1
            if caller in allowed and refused and not SELF_AUTHENTICATED.match(path):
                failures.append(f"{method.upper()} {path} [{name}] refused {caller}: {response.status_code}")
            if caller not in allowed and not refused:
                failures.append(f"{method.upper()} {path} [{name}] allowed {caller}: {response.status_code}")
            assert response.status_code < 500, f"{method.upper()} {path} as {caller}: {response.text}"
    assert not failures, "\n".join(failures)
    assert checked >= 10 * len(CALLERS)


def test_patient_b_cannot_reach_patient_a_by_id(app, clients):
    """Endpoints taking a patient id answer 404 to another account, never the data."""
    from tests.support import add_patient
    owner, _ = patient_client(app)
    member = add_patient(app, owner, name="甲某某")
    stranger = clients["patient"]
    for path, method, _name, policy in operations(app):
        if "patient" not in policy.split("|") or "{patient_id}" not in path or method != "get":
            continue
        response = stranger.get(path.replace("{patient_id}", member["id"]))
        assert response.status_code == 404, f"{path}: {response.status_code}"
