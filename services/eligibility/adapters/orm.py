"""Eligibility tables: standards (bitemporal), the read model of household snapshots with their
entitlement state, decisions with explanations, monitoring signals and re-evaluation jobs."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from shared.db import Code, UtcDateTime
from shared.platform_tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

standards = Table(
    "standards",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),
    Column("category", Code(60), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date),
    Column("value", Numeric(20, 4), nullable=False),  # fen for money, the ratio or the months otherwise
    Column("period", String(10)),
    Column("legal_ref", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
Index("ix_standards_lookup", standards.c.category, standards.c.region_code, standards.c.effective_from)

households = Table(
    "households",
    metadata,
    Column("household_id", Code(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("cadre_id", Code(64)),
    Column("snapshot", JSON, nullable=False),  # dated facts, health facts opened from the sealed part
    Column("state", JSON),  # PriorState after the last evaluation
    # The decisions in force (model.CurrentDecision per programme and member): read and rewritten with
    # the state, so a re-evaluation neither queries nor updates the decision history.
    Column("current_decisions", JSON),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Increases with every evaluation written for the household; decision events carry the new value, so
    # a consumer tells a newer decision from a replayed or out-of-order older one (migration 0008).
    Column("decision_sequence", BigInteger, nullable=False, server_default="0"),
)
# PostgreSQL storage: fillfactor 70 (migration 0006), room in each page for the rewritten state and
# decisions in force, so an update stays in place (a heap-only tuple, no new index entries).
Index("ix_elig_households_region", households.c.region_code, households.c.household_id)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("household_id", Code(36), nullable=False),
    Column("programme", Code(40), nullable=False),
    Column("member_id", Code(36)),
    Column("status", String(20), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("monthly_amount_fen", Integer, nullable=False),
    Column("valid_from", Date),
    Column("valid_until", Date),
    Column("change", String(30), nullable=False),
    Column("household_version", Integer),
    Column("as_of", Date, nullable=False),
    Column("trigger", String(100), nullable=False),  # event id or job id
    # Bulk runs leave the explanation out; it is reproduced on request from the inputs below (the engine
    # is deterministic): the household snapshot version, the prior state, the standards as known at.
    Column("explanation", JSON),
    Column("prior_state", JSON),
    Column("known_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_decisions_household", decisions.c.household_id)

# Every snapshot version the read model received, so a past decision can be re-run on its own inputs.
household_snapshots = Table(
    "household_snapshots",
    metadata,
    Column("household_id", Code(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("snapshot", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

signals = Table(
    "signals",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("household_id", Code(36), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("category", Code(20), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("status", String(20), nullable=False),  # running | done
    Column("region_prefix", Code(12), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("total", Integer, nullable=False),
    Column("reason", Text),
    Column("traceparent", String(55), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# A job's share of work one worker takes at a time: the households of one county under the job's
# prefix, walked in (region_code, household_id) order. Progress and the job's total are their sums.
job_partitions = Table(
    "job_partitions",
    metadata,
    Column("job_id", Code(36), ForeignKey("jobs.id"), primary_key=True),
    Column("region_prefix", Code(12), primary_key=True),
    Column("status", String(20), nullable=False),  # running | done
    Column("cursor_region", Code(12), nullable=False, server_default=""),  # last household done
    Column("cursor_household", Code(36), nullable=False, server_default=""),
    Column("total", Integer, nullable=False),
    Column("processed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
