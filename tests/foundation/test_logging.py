"""Log lines are JSON, carry the request id and never show a phone or ID number."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from server import logs

ID_NUMBER = "11010519900307123X"
PHONE = "13812345678"


@pytest.fixture
def captured():
    """JSON log lines of the `palm` loggers, as `run.py serve` writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("palm")
    logger.addHandler(handler)

    def lines(logger_name: str, count: int) -> list[dict]:
        deadline = time.monotonic() + 5  # the access line is written after the response
        while True:
            found = [json.loads(line) for line in stream.getvalue().splitlines()]
            found = [entry for entry in found if entry["logger"] == logger_name]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    yield lines
    logger.removeHandler(handler)


def test_access_log_masks_numbers_in_the_path_and_keeps_the_request_id(app, captured):
    for number, request_id in ((ID_NUMBER, "trace-log-id-0001"), (PHONE, "trace-log-phone-02")):
        response = app.http.get(f"/api/v1/departments/{number}/doctors",
                                headers={"X-Request-Id": request_id})
        assert response.status_code == 404
    entries = captured("palm.access", 2)
    assert [e["request_id"] for e in entries] == ["trace-log-id-0001", "trace-log-phone-02"]
    raw = json.dumps(entries, ensure_ascii=False)
    assert ID_NUMBER not in raw and PHONE not in raw
    assert "1101**********123X" in entries[0]["path"] and "1101**********123X" in entries[0]["msg"]
    assert "138****5678" in entries[1]["path"] and "138****5678" in entries[1]["msg"]
    assert entries[0]["status"] == 404 and entries[0]["route"] == "DepartmentDoctorListHandler"


def test_a_logged_exception_is_masked_too(captured):
    log = logging.getLogger("palm.test")
    try:
        raise ValueError(f"patient phone {PHONE} id {ID_NUMBER}")
    except ValueError:
        log.exception("could not notify %s", PHONE)
    [entry] = captured("palm.test", 1)
    assert entry["msg"] == "could not notify 138****5678"
    assert PHONE not in entry["exc"] and ID_NUMBER not in entry["exc"]
    assert entry["request_id"] == "-"  # outside a request


@pytest.mark.parametrize("text, shown", [
    (f"电话{PHONE}", "电话138****5678"),
    (f"身份证 {ID_NUMBER.lower()}", "身份证 1101**********123x"),
    ("旧身份证 110105900307123", "旧身份证 1101********123"),
    ("订单 202612010001234567890", "订单 202612010001234567890"),  # longer runs are not IDs
    ("金额 12345", "金额 12345"),
])
def test_redact_masks_phone_and_id_numbers_only(text, shown):
    assert logs.redact(text) == shown


def test_the_request_id_in_the_header_is_the_one_in_the_log(app, captured):
    response = app.http.get("/api/v1/departments/nothing/doctors")  # no incoming id: one is made
    [entry] = captured("palm.access", 1)
    assert entry["request_id"] == response.headers["X-Request-Id"]
