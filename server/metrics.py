"""Prometheus metrics. Routes are labelled by handler class (bounded cardinality)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("palm_http_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("palm_http_request_duration_seconds", "HTTP request latency by route",
                    ["route", "method"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


NOTIFY_ATTEMPTS = Counter("palm_notify_attempts_total",
                          "Message delivery attempts by channel, provider and outcome "
                          "(sent, fallback, retry, rejected)",
                          ["channel", "provider", "outcome"], registry=REGISTRY)
OUTBOX = Gauge("palm_outbox_messages",
               "Messages in the outbox by status (queued, failed, sent, dead), read from the "
               "database when scraped", ["status"], registry=REGISTRY)


def observe_notify_attempt(channel: str, provider: str, outcome: str) -> None:
    NOTIFY_ATTEMPTS.labels(channel, provider, outcome).inc()


def set_outbox(counts: dict[str, int]) -> None:
    for status, count in counts.items():
        OUTBOX.labels(status).set(count)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)
