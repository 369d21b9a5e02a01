"""The API as schemathesis sees it: each service runs as a real server (uvicorn, PostgreSQL) and
schemathesis generates requests from its OpenAPI document, checking every response against it (status
codes, content types, headers, schemas, auth not ignored, schema-violating input refused, no 5xx).

Bounded for CI: SCHEMATHESIS_EXAMPLES examples per operation (default 10) and a fixed seed
(SCHEMATHESIS_SEED), so a run is reproducible; raise both for a deeper run on demand.

Excluded check, and why: `positive_data_acceptance` expects every schema-valid request to succeed, but
the business rules (a region code must exist, an ID number's check digit, a cursor must be one the API
issued, a file must have the CSV columns) cannot be stated in JSON Schema; those refusals are 422
problems naming the rule, which other tests assert.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import token

EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "10")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261125")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(service: str, database_url: str, tmp_path, **settings: str) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env |= {f"{service.upper()}_DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
    env |= settings
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{service}",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url + "/healthz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"{service} did not start")


@pytest.mark.parametrize("service", ["registry", "eligibility", "disbursement", "notifications"])
async def test_schemathesis_finds_no_contract_violation(databases, service, tmp_path):
    # The other services ask the registry about households they have not heard of: it runs beside them.
    helpers = []
    settings = {}
    if service != "registry":
        registry, registry_url = await _serve("registry", await databases.create("registry"), tmp_path)
        helpers.append(registry)
        settings["REGISTRY_URL"] = registry_url
    process, url = await _serve(service, await databases.create(service), tmp_path, **settings)
    helpers.append(process)
    try:
        bearer = token("county_operator", "22", subject="schemathesis", scope="pii:read")
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("schemathesis_cli.py")),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {bearer}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "2",
            "--warnings",
            "off",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(run.communicate(), timeout=600)
        text = output.decode(errors="replace")
        assert run.returncode == 0, text[-6000:]
        assert " passed" in text and "generated" in text, text[-2000:]
    finally:
        for helper in helpers:
            helper.terminate()
            await helper.wait()
