"""Structured JSON logs with the request id on every line and personal data redacted.

Loggers use %-style arguments (ruff G001 keeps it so), and the redaction filter runs
over the formatted message, so a phone or ID number that slips into a log line is
masked before it is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Mainland mobile numbers, 18-character resident ID numbers, 15-digit old IDs,
# bank-card-like digit runs. Order matters: longest first.
_ID18 = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[\dXx])(?!\d)")
_ID15 = re.compile(r"(?<!\d)(\d{4})\d{8}(\d{3})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def redact(text: str) -> str:
    """Mask phone and ID numbers in free text."""
    text = _ID18.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _ID15.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": os.getpid(),
            "request_id": request_id.get(),
            "msg": redact(record.getMessage()),
        }
        for key in ("route", "status", "method", "duration_ms", "path", "event"):
            if hasattr(record, key):
                value = getattr(record, key)
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def log_request(handler) -> None:
    """Tornado's log_function: one structured line per request, path without query."""
    status = handler.get_status()
    # A request can fail before prepare() set the id (e.g. an undecodable path).
    request_id.set(getattr(handler, "request_id", None) or request_id.get())
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    duration_ms = round(1000.0 * handler.request.request_time(), 1)
    logging.getLogger("palm.access").log(
        level, "%s %s %s %.1fms", handler.request.method, handler.request.path, status, duration_ms,
        extra={"route": type(handler).__name__, "status": status, "method": handler.request.method,
               "duration_ms": duration_ms, "path": handler.request.path},
    )
