"""The disbursement service's tables: entitlements with their history, payment runs and payments, and
the ledger."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

from shared.db import Code, UtcDateTime
from shared.platform_tables import add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

entitlements = Table(
    "entitlements",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("household_id", Code(36), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("programme", Code(40), nullable=False),
    Column("member_key", Code(36), nullable=False),  # the member's id for single-person cases, else ""
    Column("status", String(10), nullable=False),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    Column("valid_from", Date),
    Column("valid_until", Date),
    Column("gradual_exit", Boolean, nullable=False),
    Column("decision_id", Code(36), nullable=False),
    Column("decision_sequence", BigInteger),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # "<traceparent> <event id> <correlation id>" of the decision event that set it: payments continue
    # that trace.
    Column("cause", String(140)),
    # One entitlement per household, programme and member, however often a decision is delivered.
    UniqueConstraint("household_id", "programme", "member_key", name="uq_entitlement_per_programme"),
    CheckConstraint("monthly_amount_fen >= 0", name="ck_entitlement_amount"),
)
Index("ix_entitlements_region", entitlements.c.region_code, entitlements.c.status)

entitlement_versions = Table(
    "entitlement_versions",
    metadata,
    Column("entitlement_id", Code(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    Column("valid_from", Date),
    Column("valid_until", Date),
    Column("gradual_exit", Boolean, nullable=False),
    Column("decision_id", Code(36), nullable=False),
    Column("decision_sequence", BigInteger),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", Code(80), primary_key=True),
    Column("code", Code(30), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("debits_must_not_exceed_credits", Boolean, nullable=False),
    Column("debits_pending", BigInteger, nullable=False, server_default="0"),
    Column("debits_posted", BigInteger, nullable=False, server_default="0"),
    Column("credits_pending", BigInteger, nullable=False, server_default="0"),
    Column("credits_posted", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime(), nullable=False),
    # The balance rule is the database's: concurrent transfers are serialised by the row lock of the
    # UPDATE and each resulting row is checked, so no interleaving overdraws a funded account.
    CheckConstraint(
        "NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted",
        name="ck_debits_must_not_exceed_credits",
    ),
    CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
        name="ck_ledger_amounts_not_negative",
    ),
)

ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    # Append order, for statements (SQLite autoincrements only an INTEGER primary key).
    Column("sequence", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("id", Code(80), nullable=False, unique=True),  # the idempotency key
    Column("debit_account_id", Code(80), nullable=False),
    Column("credit_account_id", Code(80), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("kind", String(15), nullable=False),
    Column("pending_id", Code(80)),
    Column("timeout_seconds", Integer, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("pending_state", String(10)),  # pending transfers: pending | posted | voided | expired
    Column("expires_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount_fen >= 0", name="ck_transfer_amount"),
    # A pending transfer is settled by at most one post or void.
    UniqueConstraint("pending_id", name="uq_transfer_settles_pending_once"),
)
Index("ix_transfers_debit", ledger_transfers.c.debit_account_id, ledger_transfers.c.sequence)
Index("ix_transfers_credit", ledger_transfers.c.credit_account_id, ledger_transfers.c.sequence)

payment_runs = Table(
    "payment_runs",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),  # the county paid
    Column("month", Code(7), nullable=False),  # YYYY-MM
    Column("status", String(12), nullable=False),
    Column("status_reason", String(300)),
    Column("cursor", Code(36), nullable=False, server_default=""),  # the last entitlement id scheduled
    Column("created_by", String(120), nullable=False),
    Column("traceparent", String(60), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
# One run at a time per county and month; a finished run may be followed by another (a re-run pays only
# what the first did not: payments are unique per entitlement and month).
Index(
    "uq_one_active_run",
    payment_runs.c.region_code,
    payment_runs.c.month,
    unique=True,
    postgresql_where=text("status <> 'completed'"),
    sqlite_where=text("status <> 'completed'"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("run_id", Code(36)),
    Column("entitlement_id", Code(36)),
    Column("household_id", Code(36), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("programme", Code(40), nullable=False),
    Column("member_key", Code(36), nullable=False),
    Column("month", Code(7), nullable=False),
    Column("kind", String(12), nullable=False),  # regular | follow_up | emergency
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("status_reason", String(300)),
    Column("attempt", Integer, nullable=False),
    Column("reference_id", Code(80), nullable=False),  # the current attempt's reference at the provider
    Column("batch_id", Code(36)),  # the DCI transaction_id of the batch that carried it
    Column("cause", String(140)),  # the decision event behind it, from its entitlement
    Column("status_changed_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Exactly one payment per entitlement per month, and per household, programme (and member) per
    # month whatever its kind (regular, follow-up, emergency).
    UniqueConstraint("entitlement_id", "month", name="uq_payment_per_entitlement_month"),
    UniqueConstraint("household_id", "programme", "member_key", "month", name="uq_payment_per_household_month"),
    UniqueConstraint("reference_id", name="uq_payment_reference"),
    CheckConstraint("amount_fen > 0", name="ck_payment_amount"),
)
Index("ix_payments_run_status", payments.c.run_id, payments.c.status)
Index("ix_payments_household", payments.c.household_id)

# Every reference ever sent for a payment (one per attempt): a late callback or a statement line for an
# earlier attempt still finds its payment.
payment_references = Table(
    "payment_references",
    metadata,
    Column("reference_id", Code(80), primary_key=True),
    Column("payment_id", Code(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_payment_references_payment", payment_references.c.payment_id)

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),
    Column("month", Code(7), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("counts", JSON, nullable=False),  # items by kind
    Column("settled", Integer, nullable=False),  # payments whose outcome the statement settled
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

reconciliation_items = Table(
    "reconciliation_items",
    metadata,
    Column("reconciliation_id", Code(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("reference_id", Code(80)),
    Column("payment_id", Code(36)),
    Column("household_id", Code(36)),
    Column("detail", String(300), nullable=False),
    Column("statement_amount_fen", BigInteger),
    Column("payment_amount_fen", BigInteger),
    Column("line", Integer),
)

# What this service knows of each household, from the registry's events: where it is and how many
# members it has (the fast-track amount counts them). No personal data.
households = Table(
    "households",
    metadata,
    Column("household_id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),
    Column("active_members", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)

aid_applications = Table(
    "aid_applications",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("household_id", Code(36), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("cause", String(10), nullable=False),
    Column("requested_amount_fen", BigInteger, nullable=False),
    Column("approved_amount_fen", BigInteger),
    Column("fast_track", Boolean, nullable=False),
    Column("one_case_one_discussion", Boolean, nullable=False),
    Column("commitment", String(500), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("approval_level", String(10)),  # township | county, fixed when the township approves
    Column("township_approved_by", String(120)),
    Column("decision", JSON),  # the amount's basis: standard, members, cap, sources
    Column("deadline", UtcDateTime()),
    Column("deadline_warned", String(10)),  # at_risk | missed, once each
    Column("reservation_id", Code(80)),
    Column("payment_id", Code(36)),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("requested_amount_fen >= 0", name="ck_aid_requested_amount"),
)
Index("ix_aid_household", aid_applications.c.household_id)
Index("ix_aid_deadline", aid_applications.c.status, aid_applications.c.deadline)

aid_steps = Table(
    "aid_steps",
    metadata,
    Column("application_id", Code(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("step", String(20), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("role", String(30), nullable=False),
    Column("reason", String(500)),
    Column("at", UtcDateTime(), nullable=False),
)

# Disaster-relief cases as documents (the aggregate in domain/relief.py); status and region beside them for
# lists. Their payments are ordinary payments (programme "disaster_relief", member_key = the case id).
relief_cases = Table(
    "relief_cases",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_relief_cases_region", relief_cases.c.region_code, relief_cases.c.id)

# Operators' retries of a payment: who, when and why. The reason is free text, kept here and shown to
# roles that see personal data; the payment's status and its events say only that it was retried, by whom.
payment_retries = Table(
    "payment_retries",
    metadata,
    Column("payment_id", Code(36), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("actor", String(200), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)
