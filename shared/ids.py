"""Ids of records written in volume: events, decisions, signals, jobs, standards.

UUIDv7 (RFC 9562): time-ordered, so a new key lands at the right edge of its btree index instead of on a
random page (a province job inserts ~550,000 of them; random keys dirty a random index page each), and
a tenth of the CPU of `uuid.uuid4()`. Ids of entities handed to people and other systems (households,
members, incomes) stay random UUIDv4: they should not tell when someone was registered.
"""

from __future__ import annotations

from uuid_utils import uuid4, uuid7


def new_record_id() -> str:
    return str(uuid7())


def new_entity_id() -> str:
    """A random UUIDv4, generated natively (a bulk import makes several per household)."""
    return str(uuid4())
