"""Demonstration households (clearly fictitious people, valid ID checksums) spread over the Jilin
counties, loaded through the registry's own application services so their events flow too."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.domain.identity import check_character
from services.registry.service_layer import services
from shared.app import ServiceRuntime
from shared.auth import Principal, Role
from shared.reference import jilin_counties

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
DEMO_ACTOR = Principal(subject="demo-loader", roles=frozenset({Role.ADMIN}), region="22")


def _counties() -> list[dict]:
    return list(jilin_counties())


def _id_number(rng: random.Random, county: str, birth: date, male: bool) -> str:
    sequence = rng.randrange(0, 499) * 2 + (1 if male else 0)
    first17 = f"{county}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def demo_households(
    count: int, seed: int = 2016
) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    counties = _counties()
    out: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = []
    for n in range(count):
        county = counties[n % len(counties)]["code"]
        size = rng.choice([1, 2, 2, 3, 3, 4, 5])
        members: list[dict[str, Any]] = []
        for i in range(size):
            age = rng.randint(62, 85) if i == 0 and rng.random() < 0.4 else rng.randint(1 if i else 25, 80)
            male = rng.random() < 0.5
            birth = date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
            members.append(
                {
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    "id_number": _id_number(rng, county, birth, male),
                    "phone": f"139{rng.randint(10000000, 99999999)}" if age >= 18 else None,
                    "relation": "head" if i == 0 else rng.choice(["spouse", "child", "parent", "grandchild"]),
                    "labour_capacity": "none"
                    if age >= 70 or age < 16
                    else rng.choice(["full", "full", "partial", "none"]),
                    "disability_grade": rng.choice([None] * 8 + [1, 2, 3, 4]),
                    "serious_illness": rng.random() < 0.1,
                    "self_care": rng.choice(["full"] * 6 + ["partial", "none"]),
                    "left_behind": "elderly" if age >= 65 and rng.random() < 0.3 else "none",
                    "has_legal_supporter": rng.random() < 0.85,
                }
            )
        household = {
            "external_ref": f"demo-{n:05d}",
            "region_code": county,
            "address": f"{rng.randint(1, 12)}组{rng.randint(1, 99)}号",
            "poverty_status": rng.choice(["not_lifted", "lifted", "lifted", "returned", "marginal", "none"]),
            "assets_meet_local_rule": rng.random() < 0.9,
            "assignment": {
                "cadre_id": f"cadre-{county}-{rng.randint(1, 20):02d}",
                "cadre_name": "包保干部",
                "unit": f"{county}民政局",
                "since": date(2025, 1, 1),
            },
        }
        incomes: list[dict[str, Any]] = [
            {
                "type": rng.choice(["wages", "agriculture", "agriculture", "business"]),
                "amount_fen": rng.randint(0, 90) * 10000,
                "period": "month",
                "effective_from": date(2026, 1, 1),
            }
        ]
        if any(2026 - int(m["id_number"][6:10]) >= 60 for m in members):
            incomes.append(
                {"type": "basic_pension", "amount_fen": 10300, "period": "month", "effective_from": date(2026, 1, 1)}
            )
        out.append((household, members, incomes))
    return out


async def load_demo_data(runtime: ServiceRuntime, count: int = 300) -> int:
    async with RegistryUnitOfWork(runtime) as uow:
        if await uow.households.get_by_external_ref("demo-00000"):
            return 0
    for household, members, incomes in demo_households(count):
        async with RegistryUnitOfWork(runtime) as uow:
            await services.register_household(
                uow, household, members, DEMO_ACTOR, "demonstration data", incomes=incomes
            )
            await uow.commit()
    return count
