"""Consumers, one way for every service: a service declares one map from event payload types to the
functions that handle them. `dispatcher(...)` turns the map into the bus handler of a batch
subscription: the events of one partition, in order, are applied in one unit of work with one inbox
write (events seen before are skipped), each inside its own trace; the whole batch commits once.
A handler for a base class takes its subclasses; event types this version does not know or does not
handle are recorded and skipped (they are not ours to fail on). A handler marked `@takes_batches`
receives each run of consecutive events it handles at once, as [(envelope, payload)], so it can apply
them set-based; it must keep their order and give each event's consequences that event's trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import groupby
from typing import TypeVar

from shared.events import Envelope, EventPayload
from shared.tracing import use_trace
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
# (unit of work, envelope, payload), or with @takes_batches (unit of work, [(envelope, payload), ...])
EventHandler = Callable[..., Awaitable[None]]
EventHandlers = Mapping[type[EventPayload], EventHandler]
H = TypeVar("H", bound=Callable[..., Awaitable[None]])


def takes_batches(handler: H) -> H:
    """Mark a handler that takes (unit of work, [(envelope, payload), ...]) instead of one event."""
    handler.takes_batches = True  # type: ignore[attr-defined]
    return handler


def handler_for(handlers: EventHandlers, payload: EventPayload) -> EventHandler | None:
    for cls in type(payload).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def dispatcher(
    consumer: str, uow_factory: Callable[[], UnitOfWork], handlers: EventHandlers
) -> Callable[[Sequence[Envelope]], Awaitable[None]]:
    async def dispatch(envelopes: Sequence[Envelope]) -> None:
        async with uow_factory() as uow:
            routed: list[tuple[EventHandler, Envelope, EventPayload]] = []
            for envelope in await uow.first_seen(consumer, envelopes):
                try:
                    payload = envelope.payload()
                except LookupError:
                    log.debug("event type %s is unknown to this version; skipped", envelope.type)
                    continue
                handler = handler_for(handlers, payload)
                if handler is not None:
                    routed.append((handler, envelope, payload))
            for handler, run in groupby(routed, key=lambda item: item[0]):
                events = [(envelope, payload) for _, envelope, payload in run]
                if getattr(handler, "takes_batches", False):
                    await handler(uow, events)
                    continue
                for envelope, payload in events:
                    with use_trace(envelope.trace_for_consequences()):
                        await handler(uow, envelope, payload)
            await uow.commit()

    return dispatch
