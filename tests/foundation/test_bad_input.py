"""Bad input never reaches a service and never becomes a 500.

No public endpoint takes a body yet, so a test-only handler declared with the REAL
`@api`/`ApiHandler` (the decorator is what is under test) is served by a real Tornado
server with the same application settings and HTTP server limits the app uses. The real
GET endpoints' query validation is checked on the real app.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from concurrent.futures import Future

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from pydantic import Field

from handlers.base import PUBLIC, ApiHandler, NotFoundHandler, api
from server.app import PalmApplication
from services.models import ApiModel

LIMIT = 1024 * 1024  # config/default.toml [http] max_body_bytes
TORNADO_BUFFER_BYTES = 16 * 1024 * 1024  # the HTTPServer max_body_size run.py serve uses


class Visitor(ApiModel):
    name: str = Field(min_length=1, max_length=20)
    age: int = Field(ge=0, le=150)
    tags: list[str] = []


class Query(ApiModel):
    page: int = Field(default=1, ge=1)


RECEIVED: list[Visitor] = []


class EchoHandler(ApiHandler):
    @api(auth=PUBLIC, body=Visitor, query=Query, status=201)
    async def post(self, body: Visitor, query: Query):
        """Echo the validated body (records what reached the 'service')."""
        RECEIVED.append(body)
        return {"name": body.name, "age": body.age, "page": query.page}


class EchoApp:
    """The test handler on a real socket, in a thread with its own loop."""

    def __init__(self) -> None:
        self.port = 0
        self._ready: Future[None] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = PalmApplication([(r"/api/test/echo", EchoHandler)],
                              default_handler_class=NotFoundHandler, max_body_bytes=LIMIT,
                              hospital_name="测试医院", development=True, services=None)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(app, max_body_size=TORNADO_BUFFER_BYTES)
        server.add_sockets(sockets)
        self._ready.set_result(None)
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()

    def __enter__(self) -> EchoApp:
        self._thread.start()
        self._ready.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def echo():
    with EchoApp() as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}",
                                           timeout=30.0) as client:
        yield client


@pytest.fixture(autouse=True)
def _clear_received():
    RECEIVED.clear()


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error["message"]
    assert not RECEIVED, "invalid input reached the service"
    return error


def post(client: httpx.Client, content: bytes | str, **kwargs) -> httpx.Response:
    return client.post("/api/test/echo", content=content,
                       headers={"Content-Type": "application/json"}, **kwargs)


def test_valid_body_reaches_the_service(echo):
    response = post(echo, json.dumps({"name": "张三", "age": 30}))
    assert response.status_code == 201
    assert response.json() == {"name": "张三", "age": 30, "page": 1}
    assert len(RECEIVED) == 1


@pytest.mark.parametrize("content", [
    '{"name": "张三", "age": 30',          # truncated
    "{name: '张三'}",                       # not JSON
    "null,",                               # trailing garbage
    b"\xff\xfe\x00garbage",                # not UTF-8
])
def test_malformed_json_is_a_400_saying_so(echo, content):
    error = assert_error(post(echo, content), 400, "invalid_request")
    assert error["details"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("content", [b"", b"   \n"])
def test_empty_body_is_a_400(echo, content):
    error = assert_error(post(echo, content), 400, "invalid_request")
    assert error["details"][0]["type"] == "missing"


@pytest.mark.parametrize("payload, field, kind", [
    ({"name": "张三", "age": "三十"}, "age", "int_parsing"),
    ({"name": 123, "age": 30}, "name", "string_type"),
    ({"name": "张三", "age": 30, "tags": "vip"}, "tags", "list_type"),
    ({"name": "张三", "age": 30.5}, "age", "int_from_float"),
    ({"name": "张三"}, "age", "missing"),
    ({"name": "", "age": 30}, "name", "string_too_short"),
    ({"name": "张三", "age": 200}, "age", "less_than_equal"),
])
def test_wrong_types_and_values_name_the_field(echo, payload, field, kind):
    error = assert_error(post(echo, json.dumps(payload)), 400, "invalid_request")
    assert [(d["field"], d["type"]) for d in error["details"]] == [(field, kind)]
    assert all(d["message"] for d in error["details"])


@pytest.mark.parametrize("payload", [[1, 2], "张三", 42, None])
def test_a_body_that_is_not_an_object_is_a_400(echo, payload):
    assert_error(post(echo, json.dumps(payload)), 400, "invalid_request")


def test_unknown_fields_are_refused_not_ignored(echo):
    error = assert_error(post(echo, json.dumps({"name": "张三", "age": 30, "admin": True})),
                         400, "invalid_request")
    assert error["details"] == [{"field": "admin", "type": "extra_forbidden",
                                 "message": "不支持此字段"}]


def test_bad_query_on_a_body_endpoint_is_a_400(echo):
    response = echo.post("/api/test/echo", params={"page": "0"},
                         json={"name": "张三", "age": 30})
    error = assert_error(response, 400, "invalid_request")
    assert error["details"][0]["field"] == "page"


def test_body_just_over_one_mebibyte_is_a_413(echo):
    padding = "x" * LIMIT
    error = assert_error(post(echo, json.dumps({"name": "张三", "age": 30, "tags": [padding]})),
                         413, "payload_too_large")
    assert error["details"] == {"limit_bytes": LIMIT}


def test_body_at_the_limit_is_still_validated_normally(echo):
    overhead = len(json.dumps({"name": "张三", "age": 30, "tags": [""]}).encode())
    body = json.dumps({"name": "张三", "age": 30, "tags": ["x" * (LIMIT - overhead)]})
    assert len(body.encode()) == LIMIT
    assert post(echo, body).status_code == 201


@pytest.mark.parametrize("size", [TORNADO_BUFFER_BYTES + 1, 200 * 1024 * 1024])
def test_huge_bodies_get_a_413_without_being_buffered(echo, size):
    """Past Tornado's own max_body_size it would answer a bare 400 and reset the upload."""
    def chunks():
        block = b" " * (1024 * 1024)
        sent = 0
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            sent += len(piece)
            yield piece

    response = echo.post("/api/test/echo", content=chunks(),
                         headers={"Content-Type": "application/json", "Content-Length": str(size)})
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": LIMIT}
    assert len(response.headers["X-Request-Id"]) >= 8


def test_body_too_large_to_drain_is_refused_before_it_is_sent():
    """Beyond the drain cap the server answers at once and closes; the client sees a 4xx."""
    with EchoApp() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 99999999999\r\n\r\n")
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), head
    assert "Connection: close" in head
    assert json.loads(body)["error"]["code"] == "payload_too_large"  # and nothing after it


def test_expect_100_continue_is_answered_before_the_body_is_sent():
    with EchoApp() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n")
        sock.settimeout(10)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"100 (Continue)" not in answer


def test_oversized_body_on_an_unknown_api_route_is_not_a_500(echo):
    response = echo.post("/api/test/nowhere", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


# The real app's GET endpoints validate their queries the same way.

@pytest.fixture(scope="module")
def real(app):
    return app.http


@pytest.mark.parametrize("params, field, kind", [
    ({"campus": "east", "admin": "1"}, "admin", "extra_forbidden"),
    ({"campus": ["east", "main"]}, "campus", "string_type"),
])
def test_department_query_is_validated(real, params, field, kind):
    response = real.get("/api/v1/departments", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [(d["field"], d["type"]) for d in error["details"]] == [(field, kind)]


@pytest.mark.parametrize("path", [
    "/api/v1/departments/%E4%B8%AD/doctors",      # percent-encoded Chinese
    "/api/v1/departments/%ff%fe/doctors",         # not UTF-8
    "/api/v1/departments/" + "a" * 5000 + "/doctors",
    "/api/v1/departments/{\"$gt\":\"\"}/doctors",  # an operator smuggled into the id
])
def test_garbage_ids_in_paths_are_4xx_not_500(real, path):
    response = real.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"]


def test_a_body_sent_to_a_get_endpoint_is_not_a_500(real):
    response = real.request("GET", "/api/v1/campuses", content=b"{broken")
    assert response.status_code == 200


@pytest.mark.parametrize("method, path, status, code", [
    ("PROPFIND", "/api/v1/campuses", 405, "method_not_allowed"),      # refused before prepare()
    ("GET", "/api/v1/departments/%ff/doctors", 400, "invalid_request"),  # path not UTF-8
    ("GET", "/api/v1/nowhere", 404, "not_found"),                     # send_error clears headers
])
def test_errors_outside_the_handler_still_carry_the_request_id(real, method, path, status, code):
    response = real.request(method, path, headers={"X-Request-Id": "trace-outside-42"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.headers["X-Request-Id"] == "trace-outside-42"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
