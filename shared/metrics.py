"""Prometheus metrics shared by every service (served at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route", "status"]
)
EVENTS_PUBLISHED = Counter(
    "outbox_events_published_total", "Events published by the outbox relay", ["service", "topic"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"])
EVENTS_CONSUMED = Counter("events_consumed_total", "Events handled by consumers", ["group", "type"])
DEAD_LETTERS = Counter("dead_letters_total", "Events sent to the dead-letter topic", ["group", "topic"])
CONSUMER_LAG = Gauge("consumer_lag", "Messages behind the partition's high watermark", ["group", "topic", "partition"])
