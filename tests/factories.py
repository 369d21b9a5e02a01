"""Test data: valid resident ID numbers and household bodies."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

from services.registry.domain.identity import check_character

_sequence = itertools.count(random.randint(1, 500))


def id_number(region: str = "220122", birth: date | None = None, sex: str = "male") -> str:
    """A valid, session-unique number (unless `birth` is pinned: then 500 per birth date and sex)."""
    n = next(_sequence)
    if birth is None:  # move the birth date along once the 500 sequence numbers of a day are used
        birth = date(1960, 5, 17) + timedelta(days=n // 500)
    seq = n % 500 * 2 + (1 if sex == "male" else 0)
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def member(relation: str = "head", **overrides) -> dict:
    body = {
        "name": "张三",
        "id_number": id_number(),
        "relation": relation,
        "labour_capacity": "full",
        "phone": "13912345678",
    }
    body.update(overrides)
    return body


def household(region_code: str = "220122", members: list[dict] | None = None, **overrides) -> dict:
    body = {
        "region_code": region_code,
        "address": "农安县某村1组",
        "poverty_status": "not_lifted",
        "members": members or [member()],
    }
    body.update(overrides)
    return body


async def announce_household(runtime, region_code: str, members: int = 1, occurred_at=None) -> str:
    """A household as the registry's event announces it to disbursement (its directory is fed from that
    topic): the household's id."""
    from datetime import UTC, datetime

    from services.disbursement.service_layer.handlers import decisions_consumer
    from shared.contracts.registry import HouseholdFacts, HouseholdRegistered, MemberFacts
    from shared.events import Envelope
    from shared.ids import new_record_id

    household_id = new_record_id()
    facts = HouseholdFacts(
        household_id=household_id,
        version=1,
        region_code=region_code,
        poverty_status="none",
        assets_meet_local_rule=True,
        cadre_id=None,
        members=[
            MemberFacts(
                member_id=new_record_id(),
                relation="head" if n == 0 else "child",
                labour_capacity="full",
                self_care="full",
                left_behind="none",
                has_legal_supporter=False,
                active=True,
            )
            for n in range(members)
        ],
        incomes=[],
        expenses=[],
        sealed="",
    )
    event = HouseholdRegistered(
        household_id=household_id,
        version=1,
        region_code=region_code,
        occurred_at=occurred_at or datetime.now(UTC),
        actor="registry-test",
        facts=facts,
    )
    await decisions_consumer(runtime)([Envelope.wrap(event, source="/registry", subject=household_id)])
    return household_id
