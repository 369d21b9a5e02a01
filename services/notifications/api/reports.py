"""Reports (POLICY §4): the monthly dispatch (月调度) and the quarterly report (003 四(四)) of a county, a city
or the province, as JSON, CSV and XLSX with Chinese headings; versions, their differences and whether a
version reproduces; submission; deadlines. Figures are aggregates: no personal data."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.api import exports
from services.notifications.service_layer import reports
from shared.app import runtime_of
from shared.auth import Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import NotFound
from shared.openapi import BODY_NAMES_RESOURCE
from shared.values import PERIOD_PATTERN

router = APIRouter(prefix="/v1", tags=["reports"])
# Figures are the agency's aggregates: operators, auditors and provincial systems read them; the counties'
# and cities' operators (and the province's) make and submit them.
Reader = Annotated[
    Principal,
    Depends(
        require(
            Role.TOWNSHIP_OFFICER,
            Role.COUNTY_OPERATOR,
            Role.PROVINCE_OPERATOR,
            Role.PROVINCIAL_SYSTEM,
            Role.AUDITOR,
            Role.ADMIN,
        )
    ),
]
Maker = Annotated[Principal, Depends(require(Role.COUNTY_OPERATOR, Role.PROVINCE_OPERATOR, Role.ADMIN))]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["monthly", "quarterly"]
    period: Annotated[
        str,
        Field(pattern=PERIOD_PATTERN, description="YYYY-MM (monthly) or YYYY-Qn (quarterly)"),
    ]
    region_code: Annotated[
        str,
        Field(pattern=r"^\d{2}(\d{2}(\d{2})?)?$", description="the province (2), a city (4) or a county (6 digits)"),
    ]


def uow_of(request: Request) -> NotificationsUnitOfWork:
    return NotificationsUnitOfWork(runtime_of(request))


async def _report(request: Request, actor: Principal, report_id: str) -> dict:
    async with uow_of(request) as uow:
        return reports.view(await reports.load(uow, report_id, actor.region))


@router.post(
    "/reports",
    status_code=201,
    summary="Make the report of a period that has ended (a new version when one exists)",
    openapi_extra={BODY_NAMES_RESOURCE: True},
)
async def make_report(body: ReportIn, request: Request, actor: Maker):
    if not body.region_code.startswith(actor.region):
        raise NotFound(
            f"no region {body.region_code} in your scope",
            errors=[{"field": "region_code", "rule": "in_scope", "message": "a region within yours"}],
        )
    uow = uow_of(request)

    async def action() -> CommandResult:
        made = await reports.generate(uow, body.kind, body.period, body.region_code, actor.subject, uow.today())
        return CommandResult(made, 201, {"Location": f"/v1/reports/{made['id']}"})

    return await run_command(request, actor, uow, action)


@router.get("/reports", summary="Reports in your scope, newest first (without their figures)")
async def list_reports(
    request: Request,
    actor: Reader,
    kind: Literal["monthly", "quarterly"] | None = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    prefix = actor.region_filter(region_code)
    async with uow_of(request) as uow:
        found = await uow.reports.find(prefix, kind, period, limit)
    return {"items": [reports.view(r) for r in found]}


@router.get("/report-deadlines", summary="Deadlines of the reports being prepared, with their state")
async def report_deadlines(request: Request, actor: Reader):
    async with uow_of(request) as uow:
        return {"items": await reports.deadlines(uow, actor.region, uow.today())}


@router.get("/reports/{report_id}", summary="A report: its figures per county, city and province")
async def get_report(report_id: str, request: Request, actor: Reader):
    return await _report(request, actor, report_id)


@router.get(
    "/reports/{report_id}/csv",
    summary="A report as CSV with Chinese headings (UTF-8 with BOM)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def report_csv(report_id: str, request: Request, actor: Reader):
    report = await _report(request, actor, report_id)
    report["figures"] = {r["region_code"]: r["figures"] for r in report["regions"]}
    return Response(
        exports.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="report-{report["period"]}-{report["region_code"]}.csv"'
        },
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/reports/{report_id}/xlsx",
    summary="A report as a spreadsheet (XLSX) with Chinese headings, and its corrections on a second sheet",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def report_xlsx(report_id: str, request: Request, actor: Reader):
    report = await _report(request, actor, report_id)
    report["figures"] = {r["region_code"]: r["figures"] for r in report["regions"]}
    return Response(
        exports.to_xlsx(report),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="report-{report["period"]}-{report["region_code"]}.xlsx"'
        },
    )


@router.get(
    "/reports/{report_id}/reproduction",
    summary="The report computed again at its own knowledge time: does it give the same figures?",
)
async def reproduction(report_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        return await reports.reproduce(uow, await reports.load(uow, report_id, actor.region))


@router.post("/reports/{report_id}/submit", summary="Send this version on: the deadline is met")
async def submit_report(report_id: str, request: Request, actor: Maker):
    uow = uow_of(request)

    async def action() -> CommandResult:
        report = await reports.load(uow, report_id, actor.region)
        return CommandResult(await reports.submit(uow, report, actor.subject))

    return await run_command(request, actor, uow, action)
