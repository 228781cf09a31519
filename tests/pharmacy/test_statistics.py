"""Statistics and estimates from stage durations, on bags walked with known timings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from tests.pharmacy.helpers import push, step
from tests.support import device_client, staff_client

APP_OVERRIDES = {"pharmacy.estimate_cache_seconds": 0}

TIMED = ["reviewed", "dispensed", "checked", "soaking", "decocting", "packed", "ready_for_pickup"]


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his")


@pytest.fixture(scope="module")
def pharmacist(app):
    return staff_client(app, "pharmacist")


@pytest.fixture(scope="module")
def walked(app, his, pharmacist):
    """Three bags: 10 minutes in every stage (31 soaking), except bag 3 waits 30 at received."""
    for waits in ([10] * 7, [10] * 7, [30] + [10] * 6):
        rx = push(his)
        for stage, minutes in zip(TIMED, waits):
            app.clock.advance(minutes=31 if stage == "decocting" else minutes)
            assert step(pharmacist, rx["id"], stage).status_code == 200
    return True


def test_average_and_p90_time_in_each_stage(app, walked):
    supervisor = staff_client(app, "pharmacy_supervisor")
    stats = supervisor.get("/api/v1/pharmacy/stats", params={"days": 7}).json()
    by_stage = {s["stage"]: s for s in stats["stages"]}
    assert by_stage["received"]["samples"] == 3
    assert by_stage["received"]["avg_minutes"] == pytest.approx(16.7)
    assert by_stage["received"]["p90_minutes"] == 30
    assert by_stage["soaking"]["avg_minutes"] == 31 and by_stage["dispensed"]["p90_minutes"] == 10
    assert sum(d["bags"] for d in stats["per_day"]) == 3 and len(stats["per_day"]) == 7


def test_the_chart_is_a_server_rendered_svg_with_every_stage(app, walked):
    supervisor = staff_client(app, "pharmacy_supervisor")
    response = supervisor.get("/api/v1/pharmacy/stats/chart")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(response.text)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"已收方", "浸泡", "煎煮", "包装"} <= texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) > 10


def test_pharmacists_cannot_read_statistics(app, pharmacist):
    assert pharmacist.get("/api/v1/pharmacy/stats").status_code == 403


def test_estimated_ready_time_adds_up_recent_stage_durations(app, walked, his):
    rx = push(his)
    progress = app.http.get("/api/v1/decoction/" + rx["progress_url"].split("/h5/decoction/")[1]).json()
    expected = app.clock.now() + timedelta(minutes=16.667 + 10 + 10 + 10 + 31 + 10 + 10)
    estimate = datetime.fromisoformat(progress["estimated_ready_at"])
    assert abs((estimate - expected).total_seconds()) < 60
    assert progress["ready"] is False and progress["estimated_ready_text"]
