"""An outage is logged once when it starts, reminded while it lasts and logged once when it ends;
third-party loggers that log every retry are held to one line per message per period."""

from __future__ import annotations

import logging

from shared.outages import OutageLog, RepeatLimit


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_outage_is_logged_at_its_start_reminders_and_end(caplog):
    clock = Clock()
    outage = OutageLog("Kafka", remind_every=300, clock=clock, logger=logging.getLogger("test.outage"))
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for second in range(0, 900):  # fifteen minutes of retries, ten a second
            clock.now = float(second)
            for _ in range(10):
                outage.failed("connection refused")
        outage.succeeded()
        outage.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 + 2 + 1, lines  # start, reminders at 300 s and 600 s, end
    assert "unavailable" in lines[0] and "still unavailable after 300 s" in lines[1]
    assert lines[-1].startswith("Kafka available again after 899 s and 9000 failed attempts")


def test_repeat_limit_bounds_a_library_logging_every_retry(caplog):
    clock = Clock()
    library = logging.getLogger("test.library.conn")
    library.addFilter(RepeatLimit(period=300, clock=clock))
    with caplog.at_level(logging.ERROR, logger="test.library.conn"):
        for tick in range(3000):  # one retry every 0.2 s for ten minutes
            clock.now = tick * 0.2
            library.error("Unable connect to node with id %s: %s", 1, "refused")
        library.error("a different message")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # at 0 s, at 300 s with the count suppressed, and the other message
    assert "[1499 similar messages suppressed" in lines[1]
