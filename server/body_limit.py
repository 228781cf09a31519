"""Request bodies over `[http] max_body_bytes` get a JSON 413, whatever their size.

Tornado buffers a request body before any handler runs, and a body over the HTTP
server's `max_body_size` is answered with a bare `400 Bad Request` (no JSON) and a
closed connection, which a client still uploading may see as a reset. So the limit is
enforced here, in front of the routing, without buffering:

- a declared `Content-Length` over the limit is never passed to a handler: the body is
  read and thrown away, then `413 payload_too_large` is answered (the client, which
  writes its whole body before reading, gets our answer, not a reset);
- a chunked body is passed through until it crosses the limit, then the same;
- a declared body over `BODY_DRAIN_BYTES`, or one sent with `Expect: 100-continue`, is
  answered at once (before the body is sent) and the connection closed.

`ApiHandler.prepare` keeps its own check as a second line.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable

from tornado import httputil

from server import metrics
from services.errors import PayloadTooLarge

log = logging.getLogger("palm.http")

# The most a client may upload before we stop reading and close: beyond it, draining
# costs more than a clean answer is worth.
BODY_DRAIN_BYTES = 256 * 1024 * 1024


class BodyLimitDelegate(httputil.HTTPMessageDelegate):
    """Wraps the application's delegate for one request; see the module docstring."""

    def __init__(self, inner: httputil.HTTPMessageDelegate, connection: httputil.HTTPConnection,
                 limit: int, security_headers: dict[str, str]):
        self.inner = inner
        self.connection = connection
        self.limit = limit
        self.security_headers = security_headers
        self.received = 0
        self.rejected = False
        self.answered = False
        self.method = ""
        self.started = time.perf_counter()

    def headers_received(self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
                         headers: httputil.HTTPHeaders) -> Awaitable[None] | None:
        self.method = getattr(start_line, "method", "")
        declared = _declared_length(headers)
        if declared is not None and declared > self.limit:
            self.rejected = True
            if declared > BODY_DRAIN_BYTES or headers.get("Expect", "").lower() == "100-continue":
                self._answer_and_close()
            else:
                self.connection.set_max_body_size(BODY_DRAIN_BYTES)  # type: ignore[attr-defined]
            return None
        if declared is None and "Transfer-Encoding" in headers:
            self.connection.set_max_body_size(BODY_DRAIN_BYTES)  # type: ignore[attr-defined]
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.rejected:
            return None
        self.received += len(chunk)
        if self.received > self.limit:  # a chunked body that crossed the limit
            self.rejected = True
            self.inner.on_connection_close()  # the handler never runs; drop what it buffered
            return None
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        if self.rejected:
            self._answer()
            return
        self.inner.finish()

    def on_connection_close(self) -> None:
        if not self.rejected:
            self.inner.on_connection_close()

    def _answer_and_close(self) -> None:
        """Answer before the body is read, then close (the body is never read)."""
        self._answer(close=True)
        # Detached, Tornado stops handling this connection instead of failing to read
        # the body and appending a bare "400 Bad Request" to our answer.
        stream = self.connection.detach()  # type: ignore[attr-defined]
        stream.write(b"").add_done_callback(lambda _: stream.close())

    def _answer(self, close: bool = False) -> None:
        if self.answered:
            return
        self.answered = True
        request_id = uuid.uuid4().hex
        body = json.dumps(PayloadTooLarge(details={"limit_bytes": self.limit}).to_json(),
                          ensure_ascii=False).encode()
        headers = httputil.HTTPHeaders({
            **self.security_headers,
            "Content-Type": "application/json; charset=UTF-8",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Request-Id": request_id,
        })
        if close:
            headers["Connection"] = "close"
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 413, "Payload Too Large"), headers, body)
        self.connection.finish()
        metrics.observe_request("BodyLimit", self.method, 413, time.perf_counter() - self.started)
        log.warning("request body over %d bytes refused (request %s)", self.limit, request_id)


def _declared_length(headers: httputil.HTTPHeaders) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value.split(",")[0].strip())
    except ValueError:
        return None  # Tornado itself rejects a malformed Content-Length
