"""schemathesis, deeper than CI's bounded run: every operation of every service with many examples and a
random seed (recorded, so a finding can be replayed with `--seed`), each service a real server on a
throwaway PostgreSQL database. The same checks as tests/contracts/test_schemathesis.py. Run on demand (a
schedule, a release); CI keeps its fixed seed and 10 examples.

    deploy/postgres.sh start && uv run python -m bench.schemathesis_deep [--examples 100] [--seed N]
        → bench/results/schemathesis_deep.json (per service: exit code, the summary lines, seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.deployment import create_databases, drop_databases
from bench.notification_latency import PG, RESULTS
from tests.conftest import token
from tests.contracts.test_schemathesis import _serve

SERVICES = ("registry", "eligibility", "disbursement", "notifications")
CLI = Path(__file__).resolve().parents[1] / "tests" / "contracts" / "schemathesis_cli.py"


async def run_one(service: str, database_url: str, examples: int, seed: int, registry_url: str | None) -> dict:
    started = time.perf_counter()
    settings = {"REGISTRY_URL": registry_url} if registry_url else {}
    process, url = await _serve(service, database_url, Path(tempfile.mkdtemp()), **settings)
    try:
        bearer = token("county_operator", "22", subject="schemathesis-deep", scope="pii:read")
        run = await asyncio.create_subprocess_exec(
            sys.executable, str(CLI), "run", f"{url}/openapi.json",
            "--header", f"Authorization: Bearer {bearer}",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", str(examples), "--seed", str(seed), "--workers", "2",
            "--warnings", "off", "--no-color",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output = (await run.communicate())[0].decode(errors="replace")
    finally:
        process.terminate()
        await process.wait()
    summary = [
        line.strip() for line in output.splitlines() if re.search(r"\b(passed|failed|generated|errored)\b", line)
    ]
    return {
        "exit_code": run.returncode,
        "summary": summary[-6:],
        "seconds": round(time.perf_counter() - started, 1),
        "failures": output[-4000:] if run.returncode else None,
    }


async def main(examples: int, seed: int) -> dict:
    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    urls = await create_databases(admin, PG, f"bench_st_{uuid.uuid4().hex[:6]}", SERVICES)
    # The registry beside the others (they ask it about households they have not heard of yet).
    registry, registry_url = await _serve("registry", urls["registry"], Path(tempfile.mkdtemp()))
    try:
        results = {
            service: await run_one(
                service, urls[service], examples, seed, registry_url if service != "registry" else None
            )
            for service in SERVICES
        }
    finally:
        registry.terminate()
        await registry.wait()
        await drop_databases(admin, urls)
        await admin.close()
    return {
        "examples_per_operation": examples,
        "seed": seed,
        "services": results,
        "all_passed": all(r["exit_code"] == 0 for r in results.values()),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, recorded in the results")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.examples, args.seed if args.seed is not None else random.randrange(2**31)))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "schemathesis_deep.json").write_text(json.dumps(outcome, indent=1, ensure_ascii=False))
    print(json.dumps(outcome, indent=1, ensure_ascii=False))
    sys.exit(0 if outcome["all_passed"] else 1)
