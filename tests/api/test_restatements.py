"""A monthly income comparison imported as a file: what each row changes, what it leaves, what it refuses,
re-runs, scope, CSV, crash and resume, and the decisions that follow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api.imports import ROW_VALIDATORS
from services.registry.service_layer import imports
from shared.auth import Principal, Role
from tests.api.test_eligibility_service import settle
from tests.api.test_registry_imports import SYSTEM, jsonl
from tests.conftest import auth, published, registry_and_eligibility
from tests.factories import household, id_number, member

WAGES_2026 = {"type": "wages", "amount_fen": 50_000, "period": "month", "effective_from": "2026-01-01"}


async def register(
    registry, tag: str, n: int, region_code: str = "220122", poverty_status: str = "not_lifted"
) -> list[dict]:
    """n households with one wage earner each (ref `{tag}-{i}`), as the registry returns them."""
    people = [member(id_number=id_number(region=region_code)) for _ in range(n)]
    rows = [
        household(
            region_code=region_code,
            external_ref=f"{tag}-{i}",
            members=[people[i]],
            incomes=[{**WAGES_2026, "member_id": "0"}],
            poverty_status=poverty_status,
        )
        for i in range(n)
    ]
    job = await start(registry, jsonl(rows), "/v1/imports")
    assert job["imported"] == n, job
    listed = (await registry.http.get("/v1/households", params={"limit": 500}, headers=SYSTEM)).json()["items"]
    by_ref = {h["external_ref"]: h for h in listed if (h.get("external_ref") or "").startswith(f"{tag}-")}
    return [by_ref[f"{tag}-{i}"] | {"id_number": people[i]["id_number"]} for i in range(n)]


async def start(
    registry,
    content: bytes,
    path: str = "/v1/imports?kind=restatements",
    headers=SYSTEM,
    media="application/x-ndjson",
) -> dict:
    response = await registry.http.post(path, content=content, headers=headers | {"content-type": media})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].startswith("/v1/imports/")
    for _ in range(200):  # a job is read by whoever started it
        job = (await registry.http.get(response.headers["Location"], headers=headers)).json()
        if job["status"] == "done":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job not done: {job}")


def wages(id_number: str, amount_fen: int, effective_from: str = "2026-11-01") -> dict:
    return {
        "id_number": id_number,
        "type": "wages",
        "amount_fen": amount_fen,
        "period": "month",
        "effective_from": effective_from,
    }


async def test_rows_apply_leave_or_refuse_and_a_rerun_changes_nothing(registry):
    tag = f"cmp-{id_number()[-6:]}"
    a, b, c = await register(registry, tag, 3)
    rows = [
        {"external_ref": a["external_ref"], "incomes": [wages(a["id_number"], 20_000)], "reason": "人社数据比对"},
        {"external_ref": b["external_ref"], "incomes": [wages(b["id_number"], 50_000, "2026-01-01")]},  # as recorded
        {"external_ref": f"{tag}-unknown", "incomes": [wages(a["id_number"], 1)]},
        {"external_ref": c["external_ref"], "incomes": [wages(a["id_number"], 1)]},  # not c's member
        {
            "external_ref": a["external_ref"],  # the same household again: a household-level income too
            "incomes": [
                {"type": "agriculture", "amount_fen": 300_000, "period": "year", "effective_from": "2026-11-01"}
            ],
        },
        {
            "external_ref": c["external_ref"],
            "incomes": [wages(c["id_number"], 1, "2025-06-01"), wages(c["id_number"], 2)],
        },
        {"external_ref": c["external_ref"], "incomes": [{**wages(c["id_number"], 1), "amount_fen": 12.5}]},
    ]
    content = jsonl(rows) + b"\n{not json"
    job = await start(registry, content)
    assert job["kind"] == "restatements"
    assert (job["total"], job["imported"], job["unchanged"], job["failed"]) == (8, 2, 1, 5), job
    errors = {e["line"]: e["error"] for e in job["errors"]}
    assert "external_ref" in errors[3] and "no household in your scope" in errors[3]
    assert "member_of_household" not in errors[4] and "no active member" in errors[4]
    assert a["id_number"] not in str(job["errors"])  # the report names the rule, never the person
    assert "stated twice" in errors[6] or "start on or after" in errors[6]
    assert "incomes.0.amount_fen" in errors[7]
    assert "not valid JSON" in errors[8]

    after = (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()
    assert after["version"] == 2  # both rows of `a` fell in one chunk: one new version
    incomes = sorted((i["type"], i["amount_fen"], i["effective_from"], i["effective_to"]) for i in after["incomes"])
    assert incomes == [
        ("agriculture", 300_000, "2026-11-01", None),
        ("wages", 20_000, "2026-11-01", None),
        ("wages", 50_000, "2026-01-01", "2026-10-31"),
    ]
    history = (
        await registry.http.get(f"/v1/households/{a['id']}/history", headers=auth("county_operator", "220122"))
    ).json()["changes"]
    assert [(h["change"], h["reason"]) for h in history][-1] == ("restated", "人社数据比对")
    untouched = (await registry.http.get(f"/v1/households/{c['id']}", headers=SYSTEM)).json()
    assert untouched["version"] == 1  # a refused row changes nothing of its household, even in part

    events = [e for e in await published(registry, a["id"]) if ".restated." in e.type]
    assert len(events) == 1
    restated = sorted(
        (i["income_type"], i["previous_annual_amount_fen"], i["annual_amount_fen"]) for i in events[0].data["incomes"]
    )
    assert restated == [("agriculture", 0, 300_000), ("wages", 600_000, 240_000)]
    assert a["id_number"] not in str(events[0].data) and "人社" not in str(events[0].data)

    rerun = await start(registry, content)
    assert (rerun["imported"], rerun["unchanged"], rerun["failed"]) == (0, 3, 5), rerun
    assert (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()["version"] == 2


async def test_the_same_day_corrects_in_place_and_scope_hides_other_counties(registry):
    tag = f"cmp-{id_number()[-6:]}"
    (a,) = await register(registry, tag, 1)
    (far,) = await register(registry, f"{tag}-far", 1, region_code="220182")
    first = await start(
        registry, jsonl([{"external_ref": a["external_ref"], "incomes": [wages(a["id_number"], 30_000)]}])
    )
    assert first["imported"] == 1
    corrected = await start(
        registry, jsonl([{"external_ref": a["external_ref"], "incomes": [wages(a["id_number"], 31_000)]}])
    )
    assert corrected["imported"] == 1
    after = (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()
    november = [i for i in after["incomes"] if i["effective_from"] == "2026-11-01"]
    assert [(i["amount_fen"], i["effective_to"]) for i in november] == [(31_000, None)]  # one record, corrected
    county = auth("county_operator", "220122")
    refused = await start(
        registry,
        jsonl([{"external_ref": far["external_ref"], "incomes": [wages(far["id_number"], 1)]}]),
        headers=county,
    )
    assert refused["failed"] == 1 and "no household in your scope" in refused["errors"][0]["error"]
    assert (await registry.http.get(f"/v1/households/{far['id']}", headers=SYSTEM)).json()["version"] == 1
    cadre = await registry.http.post(
        "/v1/imports?kind=restatements",
        content=b"{}",
        headers=auth("village_cadre", "220122") | {"content-type": "application/x-ndjson"},
    )
    assert cadre.status_code == 403


async def test_csv_rows_are_grouped_by_household(registry):
    tag = f"cmp-{id_number()[-6:]}"
    (a,) = await register(registry, tag, 1)
    csv = (
        "external_ref,id_number,type,amount_fen,period,effective_from\n"
        f"{a['external_ref']},{a['id_number']},wages,40000,month,2026-11-01\n"
        f"{a['external_ref']},,transfer,1200,month,2026-11-01\n"
    )
    job = await start(registry, csv.encode(), media="text/csv")
    assert (job["total"], job["imported"], job["failed"]) == (1, 1, 0), job
    after = (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()
    assert {(i["type"], i["member_id"] is None) for i in after["incomes"] if i["effective_to"] is None} == {
        ("wages", False),
        ("transfer", True),
    }


async def test_a_job_killed_mid_file_resumes_to_the_same_result(registry, monkeypatch):
    tag = f"cmp-{id_number()[-6:]}"
    households = await register(registry, tag, 4)
    content = jsonl(
        [{"external_ref": h["external_ref"], "incomes": [wages(h["id_number"], 10_000)]} for h in households]
    )
    uow_factory = lambda: RegistryUnitOfWork(registry.runtime)  # noqa: E731
    actor = Principal(subject="sys", roles=frozenset({Role.PROVINCIAL_SYSTEM}), region="22")
    async with uow_factory() as uow:
        job = await imports.create_job(
            uow, actor, "jsonl", content.decode(), "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "restatements"
        )
        await uow.commit()
    original, calls = imports.services.restate_households, []

    async def killed_on_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")
        return await original(*args)

    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    with monkeypatch.context() as patch:
        patch.setattr(imports.services, "restate_households", killed_on_second_chunk)
        with pytest.raises(SystemExit):
            await imports.run_job(uow_factory, job["id"], ROW_VALIDATORS)
    async with uow_factory() as uow:
        halfway = await imports.get_job(uow, job["id"])
    assert (halfway["processed"], halfway["imported"], halfway["status"]) == (2, 2, "running")
    await imports.run_job(uow_factory, job["id"], ROW_VALIDATORS)
    async with uow_factory() as uow:
        done = await imports.get_job(uow, job["id"])
    assert (done["processed"], done["imported"], done["unchanged"], done["status"]) == (4, 4, 0, "done")
    versions = [
        (await registry.http.get(f"/v1/households/{h['id']}", headers=SYSTEM)).json()["version"] for h in households
    ]
    assert versions == [2, 2, 2, 2]  # each restated once: the killed chunk left nothing behind


async def test_decisions_follow_a_comparison(databases):
    async with registry_and_eligibility(databases, datetime(2026, 12, 1, 1, 0, tzinfo=UTC)) as (
        registry,
        eligibility,
        bus,
    ):
        county = auth("county_operator", "220122")
        tag = f"cmp-{id_number()[-6:]}"
        person = member(id_number=id_number())
        body = household(
            external_ref=f"{tag}-0",
            members=[person],
            incomes=[
                {
                    "type": "wages",
                    "amount_fen": 10_000,
                    "period": "month",
                    "effective_from": "2026-01-01",
                    "member_id": "0",
                }
            ],
        )
        created = await registry.http.post("/v1/households", headers=county, json=body)
        assert created.status_code == 201, created.text
        hid = created.json()["id"]
        await settle(registry, eligibility, bus)
        before = (await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=county)).json()["items"]
        assert [(d["programme"], d["status"]) for d in before] == [("dibao", "eligible")]
        rows = [{"external_ref": f"{tag}-0", "incomes": [wages(person["id_number"], 100_000, "2026-11-01")]}]
        job = await start(registry, jsonl(rows), headers=county)
        assert job["imported"] == 1, job
        await settle(registry, eligibility, bus)
        history = (await eligibility.http.get(f"/v1/households/{hid}/decisions/history", headers=county)).json()
        assert [(d["change"], d["current"]) for d in history["items"] if d["programme"] == "dibao"] == [
            ("granted", False),
            ("revoked", True),
        ]


async def test_an_idempotency_key_reused_for_the_other_kind_is_refused(registry):
    key = {"Idempotency-Key": f"cmp-{id_number()}", "content-type": "application/x-ndjson"}
    content = jsonl([{"external_ref": "no-such-ref", "incomes": [wages(id_number(), 1)]}])
    first = await registry.http.post("/v1/imports?kind=restatements", content=content, headers=SYSTEM | key)
    assert first.status_code == 202, first.text
    other = await registry.http.post("/v1/imports?kind=households", content=content, headers=SYSTEM | key)
    assert other.status_code == 409 and other.json()["errors"][0]["rule"] == "idempotency_key_reused"


async def test_a_row_may_restate_the_status_and_leaving_the_register_stays_an_exit_case(registry):
    tag = f"cmp-{id_number()[-6:]}"
    lifted, poor = (
        await register(registry, f"{tag}-l", 1, poverty_status="lifted"),
        await register(registry, f"{tag}-p", 1),
    )
    (a,), (b,) = lifted, poor
    rows = [
        {"external_ref": a["external_ref"], "poverty_status": "returned", "incomes": [wages(a["id_number"], 0)]},
        {"external_ref": b["external_ref"], "poverty_status": "lifted", "incomes": [wages(b["id_number"], 90_000)]},
        {"external_ref": b["external_ref"], "poverty_status": "not_lifted"},  # as recorded
        {"external_ref": b["external_ref"]},  # states nothing
    ]
    job = await start(registry, jsonl(rows))
    assert (job["imported"], job["unchanged"], job["failed"]) == (1, 1, 2), job
    errors = {e["line"]: e["error"] for e in job["errors"]}
    assert "exit case" in errors[2] and "states incomes, a poverty_status or both" in errors[4]
    after = (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()
    assert after["poverty_status"] == "returned" and after["version"] == 2
    untouched = (await registry.http.get(f"/v1/households/{b['id']}", headers=SYSTEM)).json()
    assert untouched["version"] == 1 and untouched["poverty_status"] == "not_lifted"  # its income stayed too
    (event,) = [e for e in await published(registry, a["id"]) if ".restated." in e.type]
    assert (event.data["previous_status"], event.data["status"]) == ("lifted", "returned")
    assert [i["annual_amount_fen"] for i in event.data["incomes"]] == [0]

    header = "external_ref,poverty_status,id_number,type,amount_fen,period,effective_from"
    csv = f"{header}\n{a['external_ref']},marginal,,,,,\n"
    status_only = await start(registry, csv.encode(), media="text/csv")
    assert (status_only["imported"], status_only["failed"]) == (1, 0), status_only
    assert (await registry.http.get(f"/v1/households/{a['id']}", headers=SYSTEM)).json()["poverty_status"] == "marginal"


async def test_a_comparison_runs_embedded_on_sqlite(tmp_path):
    """The embedded default (SQLite, in-process bus) applies a comparison file the same way, re-runs included."""
    from services.registry.app import build_runtime, create_app
    from shared.config import ServiceSettings
    from shared.migrations import upgrade_async
    from tests.conftest import start_service

    settings = ServiceSettings.load("registry", data_dir=tmp_path, database_url=None, kafka_bootstrap_servers=None)
    assert settings.resolved_database_url.startswith("sqlite")
    await upgrade_async("registry", settings.resolved_database_url)
    service, manager = await start_service(create_app, build_runtime, settings)
    try:
        tag = f"cmp-{id_number()[-6:]}"
        households = await register(service, tag, 3)
        rows = [
            {"external_ref": h["external_ref"], "incomes": [wages(h["id_number"], 1_000 * (n + 1))]}
            for n, h in enumerate(households)
        ] + [{"external_ref": households[0]["external_ref"], "poverty_status": "marginal"}]
        first = await start(service, jsonl(rows))
        assert (first["imported"], first["unchanged"], first["failed"]) == (4, 0, 0), first
        again = await start(service, jsonl(rows))
        assert (again["imported"], again["unchanged"], again["failed"]) == (0, 4, 0), again
        after = (await service.http.get(f"/v1/households/{households[0]['id']}", headers=SYSTEM)).json()
        assert after["version"] == 2 and after["poverty_status"] == "marginal"  # its two rows: one chunk, one version
    finally:
        await service.http.aclose()
        await manager.__aexit__(None, None, None)
