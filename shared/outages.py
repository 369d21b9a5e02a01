"""Logging a dependency's outage as an operator wants to read it: once when it starts, a reminder
while it lasts, once when it ends; never once per retry. A broker outage makes every client retry
several times a second, and aiokafka logs each failed connection at ERROR: left alone, a short outage
writes hundreds of thousands of lines and buries everything else."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
REMIND_EVERY_SECONDS = 300.0


class OutageLog:
    def __init__(
        self,
        what: str,
        *,
        remind_every: float = REMIND_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ):
        self.what, self.remind_every, self.clock, self.log = what, remind_every, clock, logger
        self.down_since: float | None = None
        self._reminded_at = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: str) -> None:
        now = self.clock()
        self._failures += 1
        if self.down_since is None:
            self.down_since = self._reminded_at = now
            self.log.warning(
                "%s unavailable (%s); retrying with backoff, logging again when it is back", self.what, reason
            )
        elif now - self._reminded_at >= self.remind_every:
            self._reminded_at = now
            self.log.warning(
                "%s still unavailable after %.0f s and %d attempts (%s)",
                self.what,
                now - self.down_since,
                self._failures,
                reason,
            )

    def succeeded(self) -> None:
        if self.down_since is not None:
            self.log.warning(
                "%s available again after %.0f s and %d failed attempts",
                self.what,
                self.clock() - self.down_since,
                self._failures,
            )
        self.down_since, self._failures = None, 0


class RepeatLimit(logging.Filter):
    """Lets the first record of each message template through, then at most one every `period` seconds
    with the number suppressed in between (for third-party loggers that log every retry)."""

    def __init__(self, period: float = REMIND_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.period, self.clock = period, clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        last, suppressed = self._seen.get(key, (None, 0))
        if last is not None and now - last < self.period:
            self._seen[key] = (last, suppressed + 1)
            return False
        self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} [{suppressed} similar messages suppressed in the last {self.period:.0f} s]"
        return True


_limit = RepeatLimit()


def limit_library_logs(prefix: str = "aiokafka") -> None:
    """Attach the repeat limit to every logger of a library (its modules' loggers exist once imported;
    a logger's filters apply to the records it creates)."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (
            (name == prefix or name.startswith(prefix + "."))
            and isinstance(logger, logging.Logger)
            and _limit not in logger.filters
        ):
            logger.addFilter(_limit)
