"""Registry tables. The household aggregate is stored as a JSON document next to the columns that
filters and uniqueness need; every version of it is kept in `household_versions` (who, when, why)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, text

from shared.db import Code, UtcDateTime
from shared.platform_tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

regions = Table(
    "regions",
    metadata,
    Column("code", Code(12), primary_key=True),  # GB/T 2260 county code + 3-digit township + 3-digit village
    Column("name", String(100), nullable=False),
    Column("level", String(10), nullable=False),  # county | township | village
    Column("parent_code", Code(12), index=True),
    Column("prefecture", String(50)),
    Column("two_lines_year", Integer),  # 001 专栏6
)

households = Table(
    "households",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("external_ref", Code(100), unique=True),  # the source system's id, for idempotent imports
    Column("region_code", Code(12), nullable=False),
    Column("poverty_status", String(20), nullable=False),
    Column("flags", Text, nullable=False, server_default=","),  # ",flag,flag," so LIKE finds one flag
    Column("cadre_id", Code(64)),
    Column("version", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_households_region", households.c.region_code, households.c.id)
Index("ix_households_status", households.c.poverty_status)

# Uniqueness of a person across households, by keyed hash of the ID number (not the number itself).
person_ids = Table(
    "person_ids",
    metadata,
    Column("id_hash", Code(64), primary_key=True),
    Column("household_id", Code(36), nullable=False, index=True),
    Column("member_id", Code(36), nullable=False),
)

household_versions = Table(
    "household_versions",
    metadata,
    Column("household_id", Code(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text),
    Column("change", String(100), nullable=False),
    Column("document", JSON, nullable=False),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("actor", JSON, nullable=False),  # the principal whose scope the rows are checked against
    Column("traceparent", String(55), nullable=False),  # rows' events continue the request's trace
    Column("format", String(10), nullable=False),
    # households (registrations) | restatements (a monthly comparison's incomes)
    Column("kind", String(30), nullable=False, server_default="households"),
    Column("content_sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(20), nullable=False),  # queued | running | done
    Column("total", Integer, nullable=False),
    Column("processed", Integer, nullable=False),
    Column("imported", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# One row per refused line, appended as the job goes (a job's progress never rewrites its report).
import_job_errors = Table(
    "import_job_errors",
    metadata,
    Column("job_id", Code(36), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("external_ref", String(100)),
    Column("error", Text, nullable=False),
)

# Exit cases (leaving the register, 001 ch.12): the case is a JSON document (its steps and objections
# inside, appended) next to the columns that lists and the one-open-case rule need.
OPEN_EXIT_CASE = text("status IN ('proposed', 'appraised', 'in_notice', 'approved')")
exit_cases = Table(
    "exit_cases",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("household_id", Code(36), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_exit_cases_region", exit_cases.c.region_code, exit_cases.c.id)
Index("ix_exit_cases_household", exit_cases.c.household_id)
# One open case per household, held by the database (two proposals racing: one wins).
Index(
    "ux_exit_cases_one_open",
    exit_cases.c.household_id,
    unique=True,
    postgresql_where=OPEN_EXIT_CASE,
    sqlite_where=OPEN_EXIT_CASE,
)
