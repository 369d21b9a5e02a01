"""Bad input never costs the service: bounded bodies, refused media types, unreadable text refused,
garbled cursors refused, import rows that cannot be parsed become row errors, and a bug is a traced
problem+json 500, never a dropped connection."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import auth
from tests.factories import household, member

COUNTY = auth("county_operator", "220122")
SYSTEM = auth("provincial_system", "22")


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


async def test_oversized_bodies_are_refused_before_parsing(eligibility, registry):
    big = {
        "as_of": "2026-01-01",
        "household": {
            "region_code": "220122",
            "members": [{"id": "m", "birth_date": "1970-01-01", "labour_capacity": "full"}],
            "incomes": [{"type": "wages", "annual_amount_fen": 1}] * 120_000,
        },
    }
    body = json.dumps(big).encode()
    assert len(body) > eligibility.runtime.settings.max_request_bytes
    refused = problem(
        await eligibility.http.post(
            "/v1/evaluations", content=body, headers=SYSTEM | {"content-type": "application/json"}
        ),
        413,
    )
    assert refused["errors"][0] == {"field": "body", "rule": "max_size", "message": refused["errors"][0]["message"]}

    async def chunks():  # no Content-Length: counted as it streams
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = await eligibility.http.post(
        "/v1/evaluations", content=chunks(), headers=SYSTEM | {"content-type": "application/json"}
    )
    problem(streamed, 413)
    # Under the byte limit but over the list bound: 422 naming the list.
    many = {**big, "household": {**big["household"], "incomes": big["household"]["incomes"][:501]}}
    listed = problem(await eligibility.http.post("/v1/evaluations", json=many, headers=SYSTEM), 422)
    assert listed["errors"][0]["field"] == "household.incomes" and listed["errors"][0]["rule"] == "too_long"


async def test_bodies_must_be_json(registry):
    body = json.dumps(household()).encode()
    plain = problem(
        await registry.http.post("/v1/households", content=body, headers=COUNTY | {"content-type": "text/plain"}), 415
    )
    assert plain["errors"][0]["field"] == "Content-Type"
    missing = await registry.http.post("/v1/households", content=body, headers=COUNTY)
    problem(missing, 415)
    assert (
        await registry.http.post(
            "/v1/households", content=body, headers=COUNTY | {"content-type": "application/json; charset=utf-8"}
        )
    ).status_code == 201


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u200d", "张\x00三", "张\x85三", "\u202e三张", "\u2067张三", "   "])
async def test_unreadable_names_are_refused(registry, name):
    refused = problem(
        await registry.http.post("/v1/households", json=household(members=[member(name=name)]), headers=COUNTY), 422
    )
    assert refused["errors"][0]["field"] == "members[0].name"


async def test_unreadable_free_text_is_refused(registry):
    refused = problem(
        await registry.http.post("/v1/households", json=household(reason="ok\u202egnp.exe"), headers=COUNTY), 422
    )
    assert refused["errors"][0]["field"] == "reason"
    multiline = await registry.http.post("/v1/households", json=household(reason="第一行\n第二行"), headers=COUNTY)
    assert multiline.status_code == 201


@pytest.mark.parametrize("cursor", ["garbage", "eyJ9", "a" * 300, "k1:"])
async def test_a_cursor_not_issued_by_the_api_is_refused(registry, cursor):
    refused = problem(await registry.http.get("/v1/households", params={"cursor": cursor}, headers=COUNTY), 422)
    assert refused["errors"][0] == {
        "field": "cursor",
        "rule": "cursor_format",
        "message": "the cursor is not one this API issued",
    }


async def test_unparseable_import_rows_are_row_errors(registry):
    deep = "[" * 1000 + "]" * 1000
    good = household(external_ref="deep-ok-" + member()["id_number"][-8:])
    content = (
        '{"external_ref": "deep", "address": '
        + deep
        + "}\n"
        + '{"a":' * 1100
        + "1"
        + "}" * 1100
        + "\n"
        + json.dumps(good, ensure_ascii=False)
    ).encode()
    started = await registry.http.post(
        "/v1/imports", content=content, headers=SYSTEM | {"content-type": "application/x-ndjson"}
    )
    assert started.status_code == 202, started.text
    job = await _done(registry, started.json()["id"])
    assert (job["total"], job["imported"], job["failed"]) == (3, 1, 2), job
    assert {e["line"] for e in job["errors"]} == {1, 2}

    head = "external_ref,region_code,address,name,id_number,relation,labour_capacity\n"
    csv = (
        head
        + f"c1,220122,{'x' * 200_000},张三,{member()['id_number']},head,full\n"
        + f"c2-{member()['id_number'][-8:]},220122,一组,李四,{member()['id_number']},head,full\n"
    )
    started = await registry.http.post(
        "/v1/imports", content=csv.encode(), headers=SYSTEM | {"content-type": "text/csv"}
    )
    assert started.status_code == 202, started.text
    job = await _done(registry, started.json()["id"])
    assert (job["imported"], job["failed"]) == (1, 1), job
    assert "field larger than field limit" in job["errors"][0]["error"]


async def _done(registry, job_id: str) -> dict:
    for _ in range(200):
        job = (await registry.http.get(f"/v1/imports/{job_id}", headers=SYSTEM)).json()
        if job["status"] == "done":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(job)


async def test_a_bug_is_a_traced_problem_not_a_dropped_connection(registry, monkeypatch, caplog):
    from services.registry.service_layer import services

    secret = "".join(["110105", "19491231", "0020"])  # an ID number; the source line must not spell it

    async def broken(*args, **kwargs):
        raise RuntimeError(f"injected bug with {secret} in its message")

    monkeypatch.setattr(services, "load_for", broken)
    traceparent = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
    response = await registry.http.get("/v1/households/x", headers=COUNTY | {"traceparent": traceparent})
    body = problem(response, 500)
    assert body["type"].endswith("internal-error") and "110105194912310020" not in response.text
    assert response.headers["traceparent"].split("-")[1] == "c" * 32
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "110105194912310020" not in logged
