"""Hostile input: Schemathesis generates requests from /api/openapi.json and checks that
no endpoint answers 500, and that every response matches its documented status, content
type and schema. Callers are authenticated as the endpoint declares (patient, a staff
member holding every role, or a device of the right kind), so generated data reaches the
handlers instead of stopping at 401.

The number of examples per operation is bounded (PALM_FUZZ_EXAMPLES, default 12) to keep CI
short; raise it locally for a deeper run.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from server.openapi import build_openapi
from server.routes import all_routes
from server.settings import load_settings
from services.identity import ROLES
from services.identity.devices import sign_request

EXAMPLES = int(os.environ.get("PALM_FUZZ_EXAMPLES", "12"))

_document = build_openapi(all_routes(load_settings(environ={"PALM_ENV": "test"})), "fuzz")
schema = schemathesis.openapi.from_dict(_document)

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


class DeviceSignature(requests.auth.AuthBase):
    def __init__(self, key_id: str, secret: str, now):
        self.key_id, self.secret, self.now = key_id, secret, now

    def __call__(self, request):
        timestamp, nonce = str(int(self.now())), secrets.token_hex(12)
        from urllib.parse import urlsplit
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers.update({
            "X-Palm-Key-Id": self.key_id, "X-Palm-Timestamp": timestamp, "X-Palm-Nonce": nonce,
            "X-Palm-Signature": sign_request(self.secret, request.method, path, timestamp, nonce, body)})
        return request


@pytest.fixture(scope="module")
def credentials(seeded_app):
    app = seeded_app

    async def make(services):
        account = await services.identity.account_for_phone("13700000001")
        patient_token = await services.identity.create_session("patient", str(account["_id"]))
        password = secrets.token_urlsafe(12)
        staff_id = await services.staff.create_staff("fuzzer", "模糊测试", list(ROLES), password)
        staff_token = await services.identity.create_session("staff", staff_id)
        devices = {kind: await services.devices.register(kind, f"fuzz-{kind}") for kind in
                   ("kiosk", "display", "his")}
        return patient_token, staff_token, devices

    patient_token, staff_token, devices = app.call(make)
    now = lambda: app.clock.now().timestamp()  # noqa: E731
    return {
        "patient": {"headers": {"Authorization": f"Bearer {patient_token}"}},
        "staff": {"headers": {"Authorization": f"Bearer {staff_token}"}},
        **{f"device:{kind}": {"auth": DeviceSignature(key, secret, now)}
           for kind, (key, secret) in devices.items()},
    }


def auth_for(policy: str, credentials: dict) -> dict:
    first = policy.split("|")[0]
    if first == "patient":
        return credentials["patient"]
    if first.startswith("staff:"):
        return credentials["staff"]
    if first.startswith("device:"):
        return credentials[f"device:{first[7:].split(',')[0]}"]
    return {}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=timedelta(seconds=10),
          suppress_health_check=list(HealthCheck))
def test_generated_requests_never_break_the_api(case, seeded_app, credentials):
    policy = case.operation.definition.raw.get("x-auth", "public")
    extra = auth_for(policy, credentials)
    headers = {**(case.headers or {}), **extra.get("headers", {})}
    case.call_and_validate(base_url=seeded_app.url, headers=headers, auth=extra.get("auth"),
                           checks=CHECKS)
