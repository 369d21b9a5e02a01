"""What the benchmarks that run the services as processes share: a throwaway database per service (migrated,
dropped afterwards) and households to send income changes to."""

from __future__ import annotations

import asyncpg
import httpx

from shared.migrations import upgrade_async
from tests.factories import household, id_number, member


async def create_databases(admin: asyncpg.Connection, pg_url: str, prefix: str, services) -> dict[str, str]:
    """{service: database URL} of a new database per service, named `<prefix>_<service>`, migrated."""
    urls = {}
    for service in services:
        name = f"{prefix}_{service[:4]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        urls[service] = pg_url.rsplit("/", 1)[0] + "/" + name
        await upgrade_async(service, urls[service])
    return urls


async def drop_databases(admin: asyncpg.Connection, urls: dict[str, str]) -> None:
    for url in urls.values():
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def wage_earners(
    http: httpx.AsyncClient, registry: str, headers: dict[str, str], count: int, region_code: str
) -> list[tuple[str, str]]:
    """`count` two-person households registered over the API, each with a wage income of 0: (household id,
    income id) of each, for the income changes a benchmark sends."""
    incomes = []
    for _ in range(count):
        body = household(
            region_code,
            members=[member(), member("spouse", id_number=id_number(sex="female"))],
            incomes=[{"type": "wages", "amount_fen": 0, "period": "month", "effective_from": "2026-01-01"}],
        )
        created = (await http.post(f"{registry}/v1/households", headers=headers, json=body)).json()
        incomes.append((created["id"], created["incomes"][0]["id"]))
    return incomes
