"""How long the quarterly report of the whole province takes (issue 13 §3: under 30 s for 430,000
households). A notifications database is filled with the report facts a province's quarter leaves (every
household's register facts, a correction for a tenth of them, 290,000 decisions in force and a tenth of
them changed, three months of payments, temporary-aid cases, signals, alerts handled, exits), then the
province's report, a county's, and the province's reproduction are timed through the service layer, on
PostgreSQL. The set-up is not timed.

    uv run python -m bench.report [--households 430000]  → bench/results/report.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from bench import cpu
from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.service_layer import reports
from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.migrations import upgrade_async
from shared.reference import jilin_counties

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
QUARTER, MONTHS = "2026-Q3", ("2026-07", "2026-08", "2026-09")
COLUMNS = (
    "event_id",
    "kind",
    "key",
    "household_id",
    "region_code",
    "effective_on",
    "occurred_at",
    "recorded_at",
    "sequence",
    "category",
    "status",
    "cause",
    "people",
    "amount_fen",
    "month",
    "deadline",
)


def facts(households: int, rng: random.Random):
    """Rows of report_facts, in COLUMNS order, for `households` households of the Jilin counties."""
    counties = [c["code"] for c in jilin_counties()]
    start = datetime(2026, 6, 20, 2, tzinfo=UTC)

    def row(kind, key, household, region, effective, sequence=0, **values):
        at = datetime.combine(effective, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
        return (
            uuid.uuid4().hex,
            kind,
            key,
            household,
            region,
            effective,
            at,
            at + timedelta(seconds=1),
            sequence,
            values.get("category"),
            values.get("status"),
            values.get("cause"),
            values.get("people"),
            values.get("amount_fen"),
            values.get("month"),
            values.get("deadline"),
        )

    statuses = ["lifted"] * 55 + ["not_lifted"] * 10 + ["returned"] * 5 + ["marginal"] * 10 + ["none"] * 20
    bases = ["household"] * 70 + ["single_person"] * 15 + ["expense_deduction"] * 5 + ["gradual_exit"] * 10
    for n in range(households):
        household = uuid.uuid4().hex[:32]
        region = f"{counties[n % len(counties)]}{n % 17:03d}{n % 11:03d}"
        people = rng.choice((1, 1, 2, 2, 2, 3, 4, 5))
        status = rng.choice(statuses)
        yield row("household", household, household, region, start.date(), 1, category=status, people=people)
        if n % 10 == 0:  # a correction during the quarter
            yield row("household", household, household, region, date(2026, 8, 15), 2, category=status, people=people)
        if n % 3 == 2:
            continue  # a third of the register receives nothing
        programme_roll = rng.random()
        programme = "dibao" if programme_roll < 0.93 else "special_poverty"
        basis = rng.choice(bases) if programme == "dibao" else "special_poverty"
        member = f"m{n}" if basis in ("single_person", "special_poverty") else ""
        key = f"{household}|{programme}|{member}"
        amount = rng.randrange(20_000, 60_000)
        yield row(
            "decision",
            key,
            household,
            region,
            date(2026, 1, 1),
            1,
            category=basis,
            status="eligible",
            people=1 if member else None,
            amount_fen=amount,
        )
        if n % 10 == 1:
            yield row(
                "decision",
                key,
                household,
                region,
                date(2026, 7, 1),
                2,
                category=basis,
                status="eligible",
                people=1 if member else None,
                amount_fen=amount + 1_000,
            )
        for month in MONTHS:
            paid_on = date(int(month[:4]), int(month[5:]), 10)
            yield row(
                "payment",
                uuid.uuid4().hex,
                household,
                region,
                paid_on,
                1,
                category=programme,
                status="paid",
                amount_fen=amount,
                month=month,
            )
        if n % 40 == 0:
            application = uuid.uuid4().hex
            approved = date(2026, 7 + n % 3, 5)
            deadline = datetime.combine(approved, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)
            yield row(
                "aid",
                application,
                household,
                region,
                approved,
                0,
                category="emergency",
                status="approved",
                cause=rng.choice(("epidemic", "illness", "accident", "disaster", "other")),
                amount_fen=80_000,
                deadline=deadline if n % 80 == 0 else None,
            )
            yield row(
                "aid",
                application,
                household,
                region,
                approved,
                0,
                category="emergency",
                status="paid",
                amount_fen=80_000,
            )
        if n % 20 == 0:
            yield row(
                "signal",
                uuid.uuid4().hex,
                household,
                region,
                date(2026, 8, 1),
                category=rng.choice(("remaining_poor", "return_risk", "marginal")),
            )
        if n % 90 == 0:
            yield row("exit", household, household, region, date(2026, 9, 1))


async def main(households: int) -> dict:
    from services.notifications import app as notifications_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"bench_report_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    try:
        await upgrade_async("notifications", url)
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        loaded_started = time.perf_counter()
        rows = list(facts(households, random.Random(20261201)))
        await connection.copy_records_to_table("report_facts", records=rows, columns=COLUMNS)
        await connection.execute("ANALYZE report_facts")
        await connection.close()
        loaded = time.perf_counter() - loaded_started
        runtime = notifications_app.build_runtime(
            ServiceSettings.load("notifications", database_url=url, kafka_bootstrap_servers=None), bus=InProcessBus()
        )
        runtime.clock = lambda: datetime(2026, 10, 2, 2, tzinfo=UTC)
        timings: dict[str, float] = {}
        before = cpu.snapshot()
        for label, region in (("province", "22"), ("county", "220122"), ("city", "2201")):
            started = time.perf_counter()
            async with NotificationsUnitOfWork(runtime) as uow:
                made = await reports.generate(uow, "quarterly", QUARTER, region, "bench", date(2026, 10, 2))
                await uow.commit()
            timings[label] = round(time.perf_counter() - started, 2)
            if label == "province":
                province = made
        started = time.perf_counter()
        async with NotificationsUnitOfWork(runtime) as uow:
            stored = await uow.reports.report(province["id"])
            reproduced = await reports.reproduce(uow, stored)
        timings["province_reproduction"] = round(time.perf_counter() - started, 2)
        spent = cpu.spent(before, cpu.snapshot())
        await runtime.db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    totals = next(r["figures"] for r in province["regions"] if r["region_code"] == "22")
    return {
        "bench": "report",
        "households": households,
        "fact_rows": len(rows),
        "load_seconds": round(loaded, 1),
        "report_seconds": timings,
        "target_seconds": 30,
        "reproduced": reproduced["reproduced"],
        "regions_in_province_report": len(province["regions"]),
        "province_households_in_dibao": sum(
            totals[f"households.{c}"] for c in ("household", "single_person", "expense_deduction", "gradual_exit")
        ),
        "province_paid_yuan": sum(v for k, v in totals.items() if k.startswith("paid_fen.")) // 100,
        "cpu_seconds": {k: round(v, 2) for k, v in spent.items()},
        "measured_at": datetime.now(UTC).isoformat(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=430_000)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.households))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
