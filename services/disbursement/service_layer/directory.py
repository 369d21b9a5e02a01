"""The household directory, filled from the registry's events and, for a household registered a moment
ago whose event is still on its way, from the registry itself (shared/registry_client)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from shared.registry_client import ask_registry


async def households(uow: DisbursementUnitOfWork, household_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each household of `household_ids` the registry knows: from the directory, or asked of the registry
    and recorded (the event that follows is then a no-op, or newer and applied). Absent: unknown there too."""
    known = await uow.households.get_many(list(dict.fromkeys(household_ids)))
    missing = [household_id for household_id in dict.fromkeys(household_ids) if household_id not in known]
    if not missing:
        return known
    answers = await asyncio.gather(*(ask_registry(uow.runtime, household_id) for household_id in missing))
    found = [asdict(answer) for answer in answers if answer is not None]
    await uow.households.record(found)
    return known | {household["household_id"]: household for household in found}


async def household(uow: DisbursementUnitOfWork, household_id: str) -> dict[str, Any] | None:
    return (await households(uow, [household_id])).get(household_id)
