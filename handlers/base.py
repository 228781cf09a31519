"""The base handlers: JSON API (`ApiHandler` + the `@api` decorator) and H5 pages.

A handler method is declared with `@api(...)`: who may call it (an auth policy),
its body/query models and its response model. The decorator authenticates,
parses and validates, calls the method, and renders the result or the domain
error. The same declaration feeds the OpenAPI document (server/openapi.py) and the
authorization matrix test, so a new endpoint cannot forget either.

    class DoctorListHandler(ApiHandler):
        @api(auth=PUBLIC, response=list[DoctorOut], summary="某科室的医生")
        async def get(self, department_id: str):
            return await self.services.catalogue.list_doctors(department_id)
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import tornado.web
from bson import ObjectId
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError

from server import logs, metrics
from services.actors import Actor
from services.errors import (
    DatabaseUnavailable, DomainError, InvalidRequest, NotFound, PayloadTooLarge, RateLimited,
)

if TYPE_CHECKING:
    from server.container import Services

log = logging.getLogger("palm.http")

REQUEST_ID_HEADER = "X-Request-Id"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
}

# pydantic error types → what a patient reads.
_FIELD_MESSAGES = {
    "missing": "此项必填",
    "extra_forbidden": "不支持此字段",
    "string_type": "应为文字",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为是或否",
    "bool_parsing": "应为是或否",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "too_short": "数量过少",
    "too_long": "数量过多",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "string_pattern_mismatch": "格式不正确",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式不正确",
    "value_error": "内容不正确",
}


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors as [{field, type, message}] with Chinese messages."""
    details = []
    for item in error.errors(include_url=False, include_input=False):
        message = _FIELD_MESSAGES.get(item["type"])
        if item["type"] == "value_error":
            # our own validators raise ValueError with a Chinese sentence
            message = str(item.get("ctx", {}).get("error", "")) or _FIELD_MESSAGES["value_error"]
        details.append({
            "field": ".".join(str(p) for p in item["loc"]) or "(body)",
            "type": item["type"],
            "message": message or item["msg"],
        })
    return details


class AuthPolicy(Protocol):
    """Who may call an endpoint. Implementations live in handlers/auth.py."""

    name: str                       # "public", "patient", "staff:pharmacist", "device:kiosk"
    security: list[dict[str, list[str]]]   # OpenAPI security requirement

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        """Return the actor or raise Unauthorized / Forbidden."""
        ...


class _Public:
    name = "public"
    security: list[dict[str, list[str]]] = []

    async def authenticate(self, handler: "ApiHandler") -> Actor:
        return Actor.anonymous()


PUBLIC: AuthPolicy = _Public()


@dataclass(frozen=True)
class ApiSpec:
    """What `@api` declares about one handler method (read by server/openapi.py)."""

    auth: AuthPolicy
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)


def api(*, auth: AuthPolicy, body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None, response: Any = None, status: int = 200,
        summary: str = "", description: str = "", tags: tuple[str, ...] = (),
        errors: tuple[int, ...] = (), content_type: str = "application/json",
        ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[None]]]:
    """Declare an API method: auth policy, input models, response model and status."""
    spec = ApiSpec(auth=auth, body=body, query=query, response=response, status=status,
                   summary=summary, description=description, tags=tags, errors=errors,
                   content_type=content_type)
    adapter = TypeAdapter(response) if response is not None else None

    def decorate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(method)
        async def wrapper(self: "ApiHandler", *args: Any, **kwargs: Any) -> None:
            try:
                self.actor = await auth.authenticate(self)
                if body is not None:
                    kwargs["body"] = self.parse_body(body)
                if query is not None:
                    kwargs["query"] = self.parse_query(query)
                result = await method(self, *args, **kwargs)
            except DomainError as error:
                self.send_domain_error(error)
                return
            except ConnectionFailure as error:
                log.warning("database unreachable: %s", type(error).__name__)
                self.send_domain_error(DatabaseUnavailable())
                return
            if self._finished:
                return
            if status == 204:
                self.set_status(204)
                self.finish()
                return
            if content_type != "application/json":
                return  # the method wrote its own non-JSON body
            if adapter is not None and not isinstance(result, BaseModel):
                result = adapter.dump_python(adapter.validate_python(result), mode="json")
            self.send_json(result, status)

        wrapper.__api__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


def to_jsonable(value: Any) -> Any:
    """Default for json.dumps: models, ObjectIds, datetimes (ISO, with offset)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class BaseHandler(tornado.web.RequestHandler):
    """Request id, security headers, metrics and structured access log for every response."""

    actor: Actor

    def initialize(self, **kwargs: Any) -> None:
        self.actor = Actor.anonymous()
        self._started = time.perf_counter()

    @property
    def services(self) -> "Services":
        return self.application.settings["services"]

    @property
    def request_id(self) -> str:
        """The caller's X-Request-Id when well-formed, else a new one; fixed per request."""
        # Lazy, because Tornado can fail a request before prepare() runs (undecodable
        # path, unsupported method) and send_error() clears the headers set so far.
        rid = self.__dict__.get("_request_id")
        if rid is None:
            incoming = self.request.headers.get(REQUEST_ID_HEADER, "")
            rid = self._request_id = incoming if _safe_request_id(incoming) else uuid.uuid4().hex
        return rid

    def prepare(self) -> None:
        logs.request_id.set(self.request_id)

    def set_default_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header(REQUEST_ID_HEADER, self.request_id)
        if not self.settings.get("development", True):
            self.set_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

    @property
    def client_ip(self) -> str:
        """The client's address. Tornado reads X-Real-Ip / X-Forwarded-For (xheaders); that is
        believed only when the connection comes from a trusted proxy (`http.trusted_proxies`).
        Anyone else gets their connection's own address: per-IP limits and audit entries
        cannot be dodged by sending a header."""
        context = getattr(self.request.connection, "context", None)
        address = getattr(context, "address", None)
        peer = address[0] if isinstance(address, tuple) and address else ""
        if not peer or _trusted(peer, self.settings.get("trusted_proxies", ())):
            return self.request.remote_ip or ""
        if "X-Real-Ip" in self.request.headers or "X-Forwarded-For" in self.request.headers:
            _warn_untrusted_proxy(peer)
        return peer

    def on_finish(self) -> None:
        metrics.observe_request(type(self).__name__, self.request.method or "",
                                self.get_status(), time.perf_counter() - self._started)


def _safe_request_id(value: str) -> bool:
    return 8 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


# No request model of ours nests beyond a handful of levels; a cap keeps pathological
# bodies (issue 22 finding g) from reaching pydantic or the recursion limit at all.
MAX_JSON_DEPTH = 32


def _nesting_deeper_than(value: Any, limit: int) -> bool:
    """Iterative (no recursion of its own): True when containers nest more than `limit` deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class ApiHandler(BaseHandler):
    """JSON API: parses bodies and queries, renders results and errors as JSON."""

    def prepare(self) -> None:
        super().prepare()
        limit = self.application.settings["max_body_bytes"]
        if len(self.request.body or b"") > limit:
            self.send_domain_error(PayloadTooLarge(details={"limit_bytes": limit}))

    def parse_body[M: BaseModel](self, model: type[M]) -> M:
        raw = self.request.body or b""
        if not raw.strip():
            raise InvalidRequest(message="请求内容不能为空", details=[
                {"field": "(body)", "type": "missing", "message": "请求内容不能为空"}])
        too_deep = False
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidRequest(message="请求内容不是有效的 JSON", details=[
                {"field": "(body)", "type": "json_invalid", "message": str(error)[:200]}]) from None
        except RecursionError:
            # `[` × 100,000 exhausts the C decoder's recursion limit: the client's fault, a 400
            data, too_deep = None, True
        if too_deep or _nesting_deeper_than(data, MAX_JSON_DEPTH):
            raise InvalidRequest("json_too_deep", "请求内容嵌套层级过深", details=[
                {"field": "(body)", "type": "json_too_deep",
                 "message": f"nesting deeper than {MAX_JSON_DEPTH} levels"}])
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise InvalidRequest(details=field_errors(error)) from None

    def parse_query[M: BaseModel](self, model: type[M]) -> M:
        data: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            decoded = [v.decode("utf-8", "replace") for v in values]
            data[name] = decoded if len(decoded) > 1 else decoded[0]
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise InvalidRequest(details=field_errors(error)) from None

    def send_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload, ensure_ascii=False, default=to_jsonable,
                               separators=(",", ":")))

    def send_domain_error(self, error: DomainError) -> None:
        if isinstance(error, RateLimited):
            self.set_header("Retry-After", str(error.retry_after))
        if error.status >= 500:
            log.warning("dependency error %s on %s", error.code, self.request.path)
        self.send_json(error.to_json(), error.status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors that escaped `@api`: unknown routes, wrong methods, bugs."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DomainError):
            self.send_domain_error(exc)
            return
        if isinstance(exc, PyMongoError) and isinstance(exc, ConnectionFailure):
            self.send_domain_error(DatabaseUnavailable())
            return
        code, message = {
            404: ("not_found", "未找到相关记录"),
            405: ("method_not_allowed", "不支持此请求方式"),
            400: ("invalid_request", "请求内容有误，请检查后重试"),
        }.get(status_code, ("internal_error", "系统出了点问题，请稍后再试"))
        if status_code >= 500:
            code, message = "internal_error", "系统出了点问题，请稍后再试"
        self.send_json({"error": {"code": code, "message": message,
                                  "details": {"request_id": self.request_id}}}, status_code)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (DomainError, tornado.web.HTTPError)) and not (
                isinstance(value, tornado.web.HTTPError) and value.status_code >= 500):
            return
        super().log_exception(typ, value, tb)


class PageHandler(BaseHandler):
    """Server-rendered H5 pages (templates/). Errors render a friendly Chinese page."""

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(
            hospital_name=self.settings["hospital_name"],
            development=self.settings.get("development", False),
            page_title="",
        )
        return namespace

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ConnectionFailure):
            exc = DatabaseUnavailable()
        if isinstance(exc, NotFound) or status_code == 404:
            status_code, message = 404, "页面不存在或已失效"
        elif isinstance(exc, DomainError):
            status_code, message = exc.status, exc.message
        elif status_code >= 500:
            message = "系统出了点问题，请稍后再试"
        else:
            message = "请求无法处理"
        self.set_status(status_code)
        self.render("error.html", status_code=status_code, message=message,
                    request_id=self.request_id)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ConnectionFailure):
            log.warning("database unreachable: %s", type(value).__name__)
            return
        if isinstance(value, DomainError) or (
                isinstance(value, tornado.web.HTTPError) and value.status_code < 500):
            return
        super().log_exception(typ, value, tb)


_WARNED_PEERS: set[str] = set()


def _warn_untrusted_proxy(peer: str) -> None:
    """Once per address: a proxy that is not in http.trusted_proxies makes all its clients
    one client for the per-IP limits, which an operator must hear about."""
    if peer in _WARNED_PEERS or len(_WARNED_PEERS) >= 100:
        return
    _WARNED_PEERS.add(peer)
    log.warning("requests from %s carry X-Real-Ip/X-Forwarded-For but %s is not in "
                "http.trusted_proxies: they are counted as one client (add the load balancer "
                "there)", peer, peer)


def _trusted(peer: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class NotFoundHandler(ApiHandler):
    """Default handler: JSON 404 under /api, a page elsewhere."""

    def prepare(self) -> None:
        super().prepare()
        if not self.request.path.startswith(("/api", "/callbacks")):
            self.set_status(404)
            self.render("error.html", status_code=404, message="页面不存在或已失效",
                        request_id=self.request_id, hospital_name=self.settings["hospital_name"],
                        development=self.settings.get("development", False), page_title="")
            return
        raise tornado.web.HTTPError(404)
