"""Test support: log in as a patient, staff member or device the way real clients do.

Sessions and devices are created through the services (the same code the SMS/WeChat
login and the admin use); every request then goes over HTTP like a real client's.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx

from services.identity.devices import sign_request
from services.identity.idcard import make_id_card
from tests.harness import AppUnderTest

_phones = itertools.count(1)
_sequences = itertools.count(11)


def new_phone() -> str:
    return f"139{next(_phones) + secrets.randbelow(10_000) * 1000:08d}"[:11]


def valid_id_number(birth: date, sex: str = "male", region: str = "330106") -> str:
    """A 居民身份证 number with a correct GB 11643 check digit."""
    return make_id_card(region, birth, next(_sequences), sex)


def patient_client(app: AppUnderTest, phone: str | None = None) -> tuple[httpx.Client, str]:
    """An HTTP client logged in as the patient account of `phone` (Bearer token)."""
    phone = phone or new_phone()

    async def login(services):
        account = await services.identity.account_for_phone(phone)
        token = await services.identity.create_session("patient", str(account["_id"]))
        return token, str(account["_id"])

    token, account_id = app.call(login)
    client = httpx.Client(base_url=app.url, timeout=30.0,
                          headers={"Authorization": f"Bearer {token}"})
    return client, account_id


def add_patient(app: AppUnderTest, client: httpx.Client, name: str = "张三", sex: str = "male",
                birth: date = date(1985, 6, 15), relation: str = "self", phone: str | None = None,
                is_default: bool = False) -> dict:
    """Add a family member through the API; returns the (masked) response body."""
    response = client.post("/api/v1/patients", json={
        "name": name, "document_type": "id_card", "document_number": valid_id_number(birth, sex),
        "phone": phone or new_phone(), "relation": relation, "is_default": is_default})
    assert response.status_code == 201, response.text
    return response.json()


def staff_client(app: AppUnderTest, role: str | list[str], name: str = "李药师") -> httpx.Client:
    """An HTTP client logged in (through the login API) as a new staff member."""
    roles = [role] if isinstance(role, str) else role
    username = f"u{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    app.call(lambda s: s.staff.create_staff(username, name, roles, password))
    response = httpx.post(f"{app.url}/api/v1/staff/login",
                          json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return httpx.Client(base_url=app.url, timeout=30.0,
                        headers={"Authorization": f"Bearer {response.json()['token']}"})


class DeviceAuth(httpx.Auth):
    """Signs each request as a device does (see services/identity/devices.py)."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str, now: Callable[[], float]):
        self.key_id, self.secret, self.now = key_id, secret, now

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        timestamp = str(int(self.now()))
        nonce = secrets.token_hex(12)
        path = request.url.raw_path.decode("ascii")
        request.headers["X-Palm-Key-Id"] = self.key_id
        request.headers["X-Palm-Timestamp"] = timestamp
        request.headers["X-Palm-Nonce"] = nonce
        request.headers["X-Palm-Signature"] = sign_request(
            self.secret, request.method, path, timestamp, nonce, request.content)
        yield request


def device_client(app: AppUnderTest, kind: str, name: str = "门诊大厅1号") -> httpx.Client:
    """An HTTP client that signs every request as a newly registered device of `kind`."""
    key_id, secret = app.call(lambda s: s.devices.register(kind, name, "main"))
    client = httpx.Client(base_url=app.url, timeout=30.0,
                          auth=DeviceAuth(key_id, secret, lambda: app.clock.now().timestamp()))
    client.key_id = key_id  # type: ignore[attr-defined]
    client.secret = secret  # type: ignore[attr-defined]
    return client


# ---- SMS login through the real endpoints (the code is read from the dev inbox) ---------

def login_code_from_inbox(app: AppUnderTest, phone: str) -> str:
    """Run one notify dispatch round, then read the newest login code sent to `phone`."""
    app.call(lambda s: s.notify.dispatch_due())
    items = app.http.get("/dev/inbox", params={"phone": phone}).json()
    codes = [m["params"]["code"] for m in items if m["template"] == "login_code"]
    assert codes, f"no login code in the dev inbox for {phone[:3]}****"
    return codes[0]


def sms_login(app: AppUnderTest, phone: str | None = None,
              client: httpx.Client | None = None) -> tuple[httpx.Client, dict]:
    """Log in like the H5 page does: request a code, read it, log in. Returns the client
    (holding the session cookie and a Bearer header) and the login response body."""
    phone = phone or new_phone()
    client = client or httpx.Client(base_url=app.url, timeout=30.0)
    sent = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    code = login_code_from_inbox(app, phone)
    response = client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert response.status_code == 200, response.text
    body = response.json()
    client.headers["Authorization"] = f"Bearer {body['token']}"
    return client, body


def run_async[T](coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine to the end on a new event loop in a thread of its own. The test's thread
    may already have a running loop: Playwright's sync API keeps one while the session's
    browser lives, and `asyncio.run` refuses to start inside it."""
    with ThreadPoolExecutor(1, thread_name_prefix="test-async") as pool:
        return pool.submit(asyncio.run, coroutine).result()
