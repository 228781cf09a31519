"""Local, protocol-faithful stand-ins for Aliyun SMS, Tencent Cloud SMS and WeChat.

Each runs on its own port in one background thread and checks requests the way the
provider does: Aliyun's ACS3 signature is recomputed with Alibaba Cloud's own SDK
utility (alibabacloud_openapi_util), Tencent's TC3 signature with Tencent's SDK
(`Sign.sign_tc3`) over a canonical request built here, WeChat checks access tokens.
Timestamps are checked against the test clock. Failure modes are switched by tests:
`fail(provider, mode, times)` with mode "500", "timeout" or a provider error code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import tornado.httpserver
import tornado.netutil
import tornado.web
from alibabacloud_openapi_util.client import Client as AliyunUtil
from tencentcloud.common.sign import Sign as TencentSign

from services.clock import Clock

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI-test-key", "aliyun-test-secret"
TENCENT_ID, TENCENT_KEY = "AKID-test-id", "tencent-test-key"
TENCENT_APP = "1400000001"
MINI_APPID, MINI_SECRET = "wxmini0001", "mini-secret"
OFFICIAL_APPID, OFFICIAL_SECRET = "wxoffi0001", "official-secret"
SIGN_NAME = "示范医院"


@dataclass
class Delivered:
    provider: str
    to: str                 # phone or openid, as the provider received it
    template: str           # provider template id
    params: Any
    ref: str                # our message id (OutId / SessionContext / client_msg_id)


@dataclass
class FakeState:
    clock: Clock
    delivered: list[Delivered] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    rejected: list[str] = field(default_factory=list)      # signature/auth failures seen
    latency: float = 0.0
    outage: dict[str, str] = field(default_factory=dict)    # provider → "500" | "timeout"
    hang_seconds: float = 2.5
    unsubscribed: set[str] = field(default_factory=set)    # openids without subscription
    tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)   # token → appid, expiry
    token_ttl: int = 7200
    token_fetches: Counter = field(default_factory=Counter)
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self, provider: str) -> str | None:
        with self.lock:
            queue = self.failures.get(provider) or []
            return queue.pop(0) if queue else None

    def record(self, item: Delivered) -> None:
        with self.lock:
            self.delivered.append(item)


class _Base(tornado.web.RequestHandler):
    provider = ""

    def initialize(self, state: FakeState) -> None:
        self.state = state

    def check_xsrf_cookie(self) -> None:
        return None

    async def failure(self) -> str | None:
        """Apply latency and a queued failure; returns a provider error code to answer with."""
        self.state.calls[self.provider] += 1
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        mode = self.state.outage.get(self.provider) or self.state.take_failure(self.provider)
        if mode == "500":
            self.set_status(500)
            self.finish({"message": "internal error"})
            return "handled"
        if mode == "timeout":
            await asyncio.sleep(self.state.hang_seconds)   # the client gave up long ago
            self.set_status(504)
            self.finish({"message": "gateway timeout"})
            return "handled"
        return mode


class AliyunHandler(_Base):
    provider = "aliyun"

    async def post(self) -> None:
        mode = await self.failure()
        if mode == "handled":
            return
        query = dict(parse_qsl(self.request.query, keep_blank_values=True))
        error = self.verify(query)
        if error:
            self.state.rejected.append(error)
            self.set_status(400)
            self.finish({"Code": error, "Message": "Specified signature does not match",
                         "RequestId": "fake"})
            return
        if mode:
            self.finish({"Code": mode, "Message": f"fake {mode}", "RequestId": "fake"})
            return
        if not query.get("PhoneNumbers", "").isdigit() or len(query["PhoneNumbers"]) != 11:
            self.finish({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号",
                         "RequestId": "fake"})
            return
        self.state.record(Delivered("aliyun", query["PhoneNumbers"], query["TemplateCode"],
                                    json.loads(query["TemplateParam"]), query.get("OutId", "")))
        self.finish({"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.state.delivered)}",
                     "RequestId": "fake"})

    def verify(self, query: dict[str, str]) -> str | None:
        headers = self.request.headers
        auth = headers.get("Authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return "IncompleteSignature"
        parts = dict(p.split("=", 1) for p in auth[len("ACS3-HMAC-SHA256 "):].split(","))
        if parts.get("Credential") != ALIYUN_KEY_ID:
            return "InvalidAccessKeyId.NotFound"
        if headers.get("x-acs-action") != "SendSms" or headers.get("x-acs-version") != "2017-05-25":
            return "InvalidAction.NotFound"
        if headers.get("x-acs-content-sha256") != hashlib.sha256(self.request.body).hexdigest():
            return "SignatureDoesNotMatch"
        signed = parts.get("SignedHeaders", "").split(";")
        for required in ("host", "x-acs-action", "x-acs-version", "x-acs-date",
                         "x-acs-signature-nonce", "x-acs-content-sha256"):
            if required not in signed:
                return "SignatureDoesNotMatch"
        when = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(when - self.state.clock.now()) > timedelta(minutes=15):
            return "InvalidTimeStamp.Expired"
        with self.state.lock:
            nonce = headers["x-acs-signature-nonce"]
            if nonce in self.state.nonces:
                return "SignatureNonceUsed"
            self.state.nonces.add(nonce)

        class Request:                 # what Alibaba's SDK utility signs
            pathname = self.request.path
            method = self.request.method

        Request.query = query
        Request.headers = {name: headers[name] for name in signed}
        expected = AliyunUtil.get_authorization(Request, "ACS3-HMAC-SHA256",
                                                headers["x-acs-content-sha256"],
                                                ALIYUN_KEY_ID, ALIYUN_SECRET)
        return None if expected == auth else "SignatureDoesNotMatch"


class TencentHandler(_Base):
    provider = "tencent"

    async def post(self) -> None:
        mode = await self.failure()
        if mode == "handled":
            return
        error = self.verify()
        if error:
            self.state.rejected.append(error)
            self.finish({"Response": {"Error": {"Code": error, "Message": "fake auth failure"},
                                      "RequestId": "fake"}})
            return
        body = json.loads(self.request.body)
        if mode and not mode.startswith("status:"):
            self.finish({"Response": {"Error": {"Code": mode, "Message": f"fake {mode}"},
                                      "RequestId": "fake"}})
            return
        phone = body["PhoneNumberSet"][0]
        code = mode[len("status:"):] if mode else "Ok"
        if code == "Ok" and not (phone.startswith("+86") and len(phone) == 14):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        if code == "Ok":
            self.state.record(Delivered("tencent", phone, body["TemplateId"],
                                        body["TemplateParamSet"], body.get("SessionContext", "")))
        self.finish({"Response": {"SendStatusSet": [{
            "SerialNo": f"serial-{len(self.state.delivered)}", "PhoneNumber": phone, "Fee": 1,
            "SessionContext": body.get("SessionContext", ""), "Code": code,
            "Message": "send success" if code == "Ok" else "fake failure", "IsoCode": "CN"}],
            "RequestId": "fake"}})

    def verify(self) -> str | None:
        headers = self.request.headers
        if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
            return "InvalidAction"
        if not headers.get("X-TC-Region"):
            return "MissingParameter"
        timestamp = int(headers.get("X-TC-Timestamp", "0"))
        if abs(self.state.clock.now().timestamp() - timestamp) > 300:
            return "AuthFailure.SignatureExpire"
        auth = headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "TC3-HMAC-SHA256":
            return "AuthFailure.SignatureFailure"
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        secret_id, date, service, terminator = parts["Credential"].split("/")
        if secret_id != TENCENT_ID:
            return "AuthFailure.SecretIdNotFound"
        if date != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") or \
                service != "sms" or terminator != "tc3_request":
            return "AuthFailure.SignatureFailure"
        names = parts["SignedHeaders"].split(";")
        if "content-type" not in names or "host" not in names:
            return "AuthFailure.SignatureFailure"
        def value(n: str) -> str:
            return headers[n].strip().lower() if n == "x-tc-action" else headers[n].strip()

        canonical_headers = "".join(f"{n}:{value(n)}\n" for n in names)
        canonical = "\n".join(["POST", "/", "", canonical_headers, ";".join(names),
                               hashlib.sha256(self.request.body).hexdigest()])
        to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), f"{date}/sms/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        expected = TencentSign.sign_tc3(TENCENT_KEY, date, "sms", to_sign)
        return None if expected == parts["Signature"] else "AuthFailure.SignatureFailure"


class WechatTokenHandler(_Base):
    provider = "wechat_token"

    async def post(self) -> None:
        body = json.loads(self.request.body)
        appid = body.get("appid")
        secrets = {MINI_APPID: MINI_SECRET, OFFICIAL_APPID: OFFICIAL_SECRET}
        self.state.token_fetches[appid] += 1
        if body.get("grant_type") != "client_credential" or appid not in secrets:
            self.finish({"errcode": 40013, "errmsg": "invalid appid"})
            return
        if secrets[appid] != body.get("secret"):
            self.finish({"errcode": 40125, "errmsg": "invalid appsecret"})
            return
        now = self.state.clock.now()
        with self.state.lock:
            current = [t for t, (a, exp) in self.state.tokens.items() if a == appid and exp > now]
            if current and not body.get("force_refresh"):
                token = current[0]
            else:
                token = f"tok-{appid}-{sum(self.state.token_fetches.values())}"
                self.state.tokens[token] = (appid, now + timedelta(seconds=self.state.token_ttl))
            expires_in = int((self.state.tokens[token][1] - now).total_seconds())
        self.finish({"access_token": token, "expires_in": expires_in})


class _WechatSend(_Base):
    appid = ""
    kind = ""

    async def post(self) -> None:
        mode = await self.failure()
        if mode == "handled":
            return
        token = self.get_query_argument("access_token", "")
        entry = self.state.tokens.get(token)
        if entry is None or entry[0] != self.appid:
            self.state.rejected.append("40001")
            self.finish({"errcode": 40001, "errmsg": "invalid credential"})
            return
        if entry[1] <= self.state.clock.now():
            self.state.rejected.append("42001")
            self.finish({"errcode": 42001, "errmsg": "access_token expired"})
            return
        if mode:
            self.finish({"errcode": int(mode), "errmsg": f"fake {mode}"})
            return
        body = json.loads(self.request.body)
        if body["touser"] in self.state.unsubscribed:
            self.finish({"errcode": 43101 if self.kind == "subscribe" else 43004,
                         "errmsg": "user refuse to accept the msg"})
            return
        self.state.record(Delivered(self.kind, body["touser"], body["template_id"],
                                    body["data"], body.get("client_msg_id", "")))
        self.finish({"errcode": 0, "errmsg": "ok", "msgid": len(self.state.delivered)})


class SubscribeHandler(_WechatSend):
    provider = "subscribe"
    appid = MINI_APPID
    kind = "subscribe"


class OfficialHandler(_WechatSend):
    provider = "official"
    appid = OFFICIAL_APPID
    kind = "official"


class StatsHandler(tornado.web.RequestHandler):
    """GET /stats: how many messages were delivered, and how many distinct ones (benchmarks)."""

    def initialize(self, state: FakeState) -> None:
        self.state = state

    def get(self) -> None:
        with self.state.lock:
            refs = [d.ref for d in self.state.delivered]
        self.finish({"delivered": len(refs), "distinct": len(set(refs)),
                     "rejected": len(self.state.rejected)})


class FakeProviders:
    """Aliyun, Tencent and WeChat on three local ports; `.overrides()` points the app at them."""

    def __init__(self, clock: Clock):
        self.state = FakeState(clock)
        self.ports: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="fake-providers", daemon=True)

    def start(self) -> FakeProviders:
        self._thread.start()
        self._ready.result(timeout=30)
        return self

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        apps = {
            "aliyun": [(r"/", AliyunHandler), (r"/stats", StatsHandler)],
            "tencent": [(r"/", TencentHandler)],
            "wechat": [(r"/cgi-bin/stable_token", WechatTokenHandler),
                       (r"/cgi-bin/message/subscribe/send", SubscribeHandler),
                       (r"/cgi-bin/message/template/send", OfficialHandler)],
        }
        servers = []
        for name, routes in apps.items():
            app = tornado.web.Application([(p, h, {"state": self.state}) for p, h in routes],
                                          log_function=lambda handler: None)
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            self.ports[name] = sockets[0].getsockname()[1]
            server = tornado.httpserver.HTTPServer(app)
            server.add_sockets(sockets)
            servers.append(server)
        self._ready.set_result(None)
        await self._stop.wait()
        for server in servers:
            server.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    # ---- what tests switch and read ------------------------------------------------

    def fail(self, provider: str, mode: str, times: int = 1) -> None:
        with self.state.lock:
            self.state.failures.setdefault(provider, []).extend([mode] * times)

    def down(self, provider: str, mode: str | None) -> None:
        """Every request to `provider` fails with `mode` ("500", "timeout") until None."""
        with self.state.lock:
            if mode is None:
                self.state.outage.pop(provider, None)
            else:
                self.state.outage[provider] = mode

    def reset(self) -> None:
        with self.state.lock:
            self.state.delivered.clear()
            self.state.failures.clear()
            self.state.rejected.clear()
            self.state.calls.clear()
            self.state.unsubscribed.clear()
            self.state.latency = 0.0
            self.state.outage.clear()

    def delivered(self, provider: str | None = None) -> list[Delivered]:
        with self.state.lock:
            return [d for d in self.state.delivered if provider in (None, d.provider)]

    def overrides(self, sms: str = "aliyun", subscribe: str = "none",
                  official: str = "none") -> dict[str, Any]:
        """App settings that point every provider at these fakes (all templates configured)."""
        from services.notify import TEMPLATES
        templates = {name: {"aliyun_code": f"SMS_{i:04d}", "tencent_id": str(100000 + i),
                            "subscribe_id": f"sub-{name}", "official_id": f"tpl-{name}"}
                     for i, name in enumerate(sorted(TEMPLATES))}
        return {
            "notify.sms_provider": sms, "notify.subscribe_provider": subscribe,
            "notify.official_provider": official,
            "notify.aliyun_endpoint": self.url("aliyun"),
            "notify.aliyun_access_key_id": ALIYUN_KEY_ID,
            "notify.aliyun_access_key_secret": ALIYUN_SECRET,
            "notify.aliyun_sign_name": SIGN_NAME,
            "notify.tencent_endpoint": self.url("tencent"),
            "notify.tencent_secret_id": TENCENT_ID, "notify.tencent_secret_key": TENCENT_KEY,
            "notify.tencent_sms_app_id": TENCENT_APP, "notify.tencent_sign_name": SIGN_NAME,
            "notify.wechat_endpoint": self.url("wechat"),
            "notify.miniprogram_appid": MINI_APPID, "notify.miniprogram_secret": MINI_SECRET,
            "notify.official_appid": OFFICIAL_APPID, "notify.official_secret": OFFICIAL_SECRET,
            "notify.provider_timeout_seconds": 1.0,   # generous: the machine is shared
            "notify.templates": templates,
        }


if __name__ == "__main__":      # `python -m tests.notify.fakes`: run alone (benchmarks)
    import signal
    import sys

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    fakes = FakeProviders(Clock()).start()
    print(json.dumps(fakes.ports), flush=True)
    signal.sigwait(stop_signals)
    fakes.stop()
    sys.exit(0)
