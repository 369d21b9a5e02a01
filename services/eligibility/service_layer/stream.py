"""The registry stream, applied in batches: a partition's events become waves of household snapshots
(one change per household each), decided by the scalar engine and written set-based, with the same
outcome as `services.apply_household_facts` one event at a time. Standards are cached for the process
and read again when they change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.domain.parameters import ParameterSet, StandardIndex
from services.eligibility.service_layer.services import reevaluate_many, snapshot_of
from shared.contracts.registry import HouseholdFacts
from shared.tracing import TraceContext


async def cached_standards(uow: EligibilityUnitOfWork, as_of: date) -> tuple[StandardIndex, dict[str, ParameterSet]]:
    """Every standard and the parameters compiled from them per region for `as_of`, kept for the process
    and read again when the standards change (they are only ever added: their count and latest record
    tell), whichever process recorded one."""
    stamp = await uow.standards.stamp()
    cached: tuple[Any, StandardIndex, dict[date, dict[str, ParameterSet]]] | None = uow.runtime.caches.get("standards")
    if cached is None or cached[0] != stamp:
        cached = (stamp, StandardIndex(await uow.standards.under("")), {})
        uow.runtime.caches["standards"] = cached
    _, index, compiled = cached
    return index, compiled.setdefault(as_of, {})


def _county(region_code: str) -> str:
    return region_code[:6]  # the county part of an administrative code: what a county lock covers


async def apply_household_batch(
    uow: EligibilityUnitOfWork, changes: Sequence[tuple[HouseholdFacts, str, TraceContext]], as_of: date
) -> int:
    """A batch of registry facts (each with the id and trace of the event that carried it), applied
    set-based: the same outcome as `apply_household_facts` one by one, in a few statements per wave. A
    wave takes the next change of each household, so a household changed twice in the batch is evaluated
    twice, in order (events stay in order per household, the order Kafka keeps)."""
    pending: dict[str, list[tuple[HouseholdFacts, str, TraceContext]]] = {}
    for facts, trigger, trace in changes:
        pending.setdefault(facts.household_id, []).append((facts, trigger, trace))
    published = 0
    while pending:
        wave = {hid: queue.pop(0) for hid, queue in pending.items()}
        pending = {hid: queue for hid, queue in pending.items() if queue}
        # Wait for job batches holding these counties (shared locks, sorted), then lock the rows.
        counties = {_county(facts.region_code) for facts, _, _ in wave.values()}
        await uow.households.lock_counties_shared(sorted(counties))
        existing = await uow.households.get_many(list(wave), for_update=True)
        moved = sorted({_county(r.region_code) for r in existing.values()} - counties)
        if moved:  # a household moved: its old county's batch must finish first too
            await uow.households.lock_counties_shared(moved)
            existing = await uow.households.get_many(list(wave), for_update=True)
        newer = [
            (facts, trigger, trace)
            for facts, trigger, trace in wave.values()
            if facts.household_id not in existing or existing[facts.household_id].version < facts.version
        ]
        if not newer:
            continue
        rows = await uow.households.upsert_many(
            [
                (f.household_id, f.version, f.region_code, snapshot_of(f, uow.runtime.sealer), f.cadre_id)
                for f, _, _ in newer
            ],
            existing,
        )
        standards, compiled = await cached_standards(uow, as_of)
        # The scalar engine, written set-based: the bulk job's vectorised screening gave no measurable gain
        # on a stream of registry changes (bench/stream.py; DECISIONS §22).
        published += await reevaluate_many(
            uow,
            [rows[f.household_id] for f, _, _ in newer],
            standards,
            as_of,
            "",
            parameter_cache=compiled,
            triggers={f.household_id: trigger for f, trigger, _ in newer},
            traces={f.household_id: trace for f, _, trace in newer},
        )
    return published
