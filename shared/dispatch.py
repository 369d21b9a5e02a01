"""Consumers, one way for every service: a service declares one map from event payload types to the
functions that handle them; the bus hands every event of the subscribed topics to `dispatcher(map)`,
which finds the handler by payload type (a handler for a base class takes its subclasses) and ignores
event types this version does not know or does not handle (they are not ours to fail on)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from shared.events import Envelope, EventPayload

log = logging.getLogger(__name__)
EventHandler = Callable[[Envelope, Any], Awaitable[None]]
EventHandlers = Mapping[type[EventPayload], EventHandler]


def dispatcher(handlers: EventHandlers) -> Callable[[Envelope], Awaitable[None]]:
    async def dispatch(envelope: Envelope) -> None:
        try:
            payload = envelope.payload()
        except LookupError:
            log.debug("event type %s is unknown to this version; skipped", envelope.type)
            return
        for cls in type(payload).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                await handler(envelope, payload)
                return

    return dispatch
