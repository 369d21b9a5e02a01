"""The interfaces we publish, judged by outsiders' tools: every service's AsyncAPI document by the
official parser (@asyncapi/parser), its OpenAPI document by Redocly's recommended ruleset, both as the
running service serves them. The validators are pinned in tests/contracts/package.json."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SERVICES = ["registry", "eligibility", "disbursement", "notifications"]


def _node_tools() -> None:
    if shutil.which("node") is None or not (HERE / "node_modules").is_dir():
        pytest.fail("the contract validators are not installed: tests/run.sh runs `npm ci` in tests/contracts")


@pytest.fixture
def services(registry, eligibility, disbursement, notifications):
    return {
        "registry": registry,
        "eligibility": eligibility,
        "disbursement": disbursement,
        "notifications": notifications,
    }


@pytest.mark.parametrize("name", SERVICES)
async def test_asyncapi_document_passes_the_official_parser(services, name, tmp_path):
    _node_tools()
    document = (await services[name].http.get("/asyncapi.json")).json()
    assert document["channels"], "a service publishes or consumes at least one channel"
    path = tmp_path / f"{name}-asyncapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        ["node", str(HERE / "validate-asyncapi.mjs"), str(path)], capture_output=True, text=True, timeout=120
    )
    diagnostics = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [d for d in diagnostics if d["severity"] == "Error"]
    assert result.returncode == 0 and not errors, errors or result.stderr


@pytest.mark.parametrize("name", SERVICES)
async def test_openapi_document_passes_redocly_recommended_rules(services, name, tmp_path):
    _node_tools()
    document = (await services[name].http.get("/openapi.json")).json()
    path = tmp_path / f"{name}-openapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [
            str(HERE / "node_modules" / ".bin" / "redocly"),
            "lint",
            "--extends",
            "recommended",
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=HERE,
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert not errors, json.dumps(errors, indent=1)[:4000]
    # The warnings left are the operational probes' lack of a 4xx answer (they have none to give).
    warned = {(p["ruleId"], p["location"][0]["pointer"].split("/")[2]) for p in report["problems"]}
    assert {rule for rule, _ in warned} <= {"operation-4xx-response"}, warned
    assert {path for _, path in warned} <= {"~1healthz", "~1readyz", "~1metrics", "~1asyncapi.json"}, warned


async def test_problem_responses_are_documented(registry):
    document = (await registry.http.get("/openapi.json")).json()
    patch = document["paths"]["/v1/households/{household_id}"]["patch"]
    assert {"401", "403", "404", "409", "412", "413", "415", "422", "428"} <= set(patch["responses"])
    assert "application/problem+json" in patch["responses"]["422"]["content"]
    assert "Idempotency-Key" in [p["name"] for p in document["paths"]["/v1/households"]["post"]["parameters"]]
    imports = document["paths"]["/v1/imports"]["post"]
    assert {"text/csv", "application/x-ndjson"} <= set(imports["requestBody"]["content"])
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert all(media.startswith("text/plain") for media in metrics)
