"""Per-IP limits count the client's real address: a proxy's X-Real-Ip is believed only when
the connection comes from a trusted proxy (`http.trusted_proxies`)."""

from __future__ import annotations

import httpx

from handlers import base
from tests.support import new_phone

# nobody is a trusted proxy here: the test client (on loopback) is an ordinary client
APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 3, "http.trusted_proxies": []}


def ask_code(app, ip: str) -> httpx.Response:
    return httpx.post(f"{app.url}/api/v1/auth/sms-code", json={"phone": new_phone()},
                      headers={"X-Real-Ip": ip, "X-Forwarded-For": ip})


def test_a_client_cannot_pick_its_address_by_a_header(app, caplog):
    base._WARNED_PEERS.discard("127.0.0.1")     # the warning is once per process and address
    app.clock.advance(hours=1)
    for i in range(3):
        assert ask_code(app, f"203.0.113.{i + 1}").status_code == 200
    fourth = ask_code(app, "203.0.113.99")
    assert fourth.status_code == 429 and fourth.json()["error"]["code"] == "rate_limited"
    # the operator hears once that a proxy-like peer is not trusted
    warned = [r for r in caplog.records if "http.trusted_proxies" in r.getMessage()]
    assert len(warned) == 1 and "127.0.0.1" in warned[0].getMessage()
