"""Regions: the Jilin counties (seeded) and the townships and villages operators add."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from services.registry.api.households import uow_of
from services.registry.api.schemas import RegionIn
from services.registry.service_layer import services
from shared.auth import READERS, Principal, Role, require
from shared.commands import CommandResult, run_command

router = APIRouter(prefix="/v1/regions", tags=["regions"])


@router.get("", summary="Regions in your scope")
async def list_regions(
    request: Request,
    actor: Annotated[Principal, Depends(require(*READERS))],
    level: Literal["county", "township", "village"] | None = None,
    parent_code: Annotated[str | None, Query(pattern=r"^\d{6,9}$")] = None,
):
    async with uow_of(request) as uow:
        return {
            "items": await uow.regions.list(
                prefix=actor.region if actor.region != "" else "", level=level, parent=parent_code
            )
        }


@router.post("", status_code=201, summary="Add a township or village")
async def add_region(
    body: RegionIn,
    request: Request,
    actor: Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))],
):
    uow = uow_of(request)

    async def action():
        return CommandResult(await services.add_region(uow, body.model_dump(), actor), 201)

    return await run_command(request, actor, uow, action)
