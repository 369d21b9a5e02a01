"""Eligibility application services. They never commit: the caller's unit of work does."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.domain.bulk import BulkDibao
from services.eligibility.domain.engine import ENGINE_VERSION, RULE_SET_HASH, evaluate
from services.eligibility.domain.model import (
    PERSONAL_FACTS,
    CurrentDecision,
    Decision,
    HouseholdInput,
    PriorState,
    Status,
    current_decisions,
    dibao_basis,
    stored_current,
)
from services.eligibility.domain.parameters import (
    Category,
    Kind,
    MissingParameter,
    ParameterSet,
    Standard,
    StandardIndex,
    check_floor,
    compile_parameters,
    kind_of,
    resolve,
)
from shared.contracts import eligibility as events
from shared.contracts.registry import HouseholdFacts
from shared.errors import Conflict, ValidationProblem
from shared.ids import new_record_id
from shared.reference import jilin_counties
from shared.sealing import Sealer
from shared.tracing import TraceContext, use_trace

log = logging.getLogger(__name__)


# --- the read model fed by registry events ------------------------------------------------------


def snapshot_of(facts: HouseholdFacts, sealer: Sealer) -> dict:
    """The read model's record: active members with their sealed health facts opened, dated incomes."""
    private = sealer.unseal(facts.sealed)
    members = []
    for m in facts.members:
        if not m.active:
            continue
        p = private[m.member_id]
        members.append(
            {
                "id": m.member_id,
                "birth_date": p["birth_date"],
                "labour_capacity": m.labour_capacity,
                "disability_grade": p["disability_grade"],
                "serious_illness": p["serious_illness"],
                "self_care": m.self_care,
                "has_legal_supporter": m.has_legal_supporter,
            }
        )
    active = {m["id"] for m in members}
    return {
        "id": facts.household_id,
        "version": facts.version,
        "region_code": facts.region_code,
        "registered_poor_status": facts.poverty_status,
        "exited_on": facts.exited_on.isoformat() if facts.exited_on else None,
        "members": members,
        "assets_meet_local_rule": facts.assets_meet_local_rule,
        "incomes": [
            {
                "member_id": i.member_id if i.member_id in active else None,
                "type": i.type,
                "annual_amount_fen": i.annual_amount_fen,
                "from": i.effective_from.isoformat(),
                "to": i.effective_to.isoformat() if i.effective_to else None,
            }
            for i in facts.incomes
        ],
        "expenses": [
            {
                "type": e.type,
                "annual_amount_fen": e.annual_amount_fen,
                "from": e.effective_from.isoformat(),
                "to": e.effective_to.isoformat() if e.effective_to else None,
            }
            for e in facts.expenses
        ],
    }


def input_on(snapshot: dict, as_of: date) -> HouseholdInput:
    """The engine's input on a date: only incomes and expenses in force that day count."""
    day = as_of.isoformat()

    def current(items):
        return [
            {k: v for k, v in item.items() if k not in ("from", "to")}
            for item in items
            if item["from"] <= day and (item["to"] is None or day <= item["to"])
        ]

    return HouseholdInput.model_validate(
        {**snapshot, "incomes": current(snapshot["incomes"]), "expenses": current(snapshot["expenses"])}
    )


async def apply_household_facts(uow: EligibilityUnitOfWork, facts: HouseholdFacts, as_of: date, trigger: str) -> int:
    """Keep the newest snapshot, then re-evaluate. An older or repeated version changes nothing.

    The one-event semantics, statement by statement: the consumer applies batches with
    `stream.apply_household_batch`, and tests hold that path to this one's outcome."""
    # Wait for a job batch holding the household's county (old and new county, if it moved).
    await uow.households.lock_county(facts.region_code, exclusive=False)
    existing = await uow.households.get(facts.household_id, for_update=True)
    if existing is not None and existing.region_code != facts.region_code:
        await uow.households.lock_county(existing.region_code, exclusive=False)
        existing = await uow.households.get(facts.household_id, for_update=True)
    if existing is not None and existing.version >= facts.version:
        return 0
    await uow.households.upsert(
        facts.household_id,
        facts.version,
        facts.region_code,
        snapshot_of(facts, uow.runtime.sealer),
        facts.cadre_id,
        existing is not None,
    )
    row = await uow.households.get(facts.household_id)
    standards = await uow.standards.for_region(row.region_code)
    return await reevaluate(uow, row, standards, as_of, trigger)


# --- evaluation and what changed ----------------------------------------------------------------


def _sealed_personal_facts(uow: EligibilityUnitOfWork, evidence: dict[str, Any]) -> str | None:
    """The evidence that names members by a health or age fact, sealed for the event."""
    personal = {k: v for k, v in evidence.items() if k in PERSONAL_FACTS}
    return uow.runtime.sealer.seal(personal) if personal else None


def change_kind(old: Any, new: Decision | BulkDibao | None) -> str | None:
    """What happened to one programme's decision, or None if nothing a recipient would notice."""
    old_status = Status(old.status) if old is not None else None
    if new is None:
        return "revoked" if old_status in (Status.ELIGIBLE, Status.GRADUAL_EXIT) else None
    if old_status is None:
        return "granted" if new.status != Status.NOT_ELIGIBLE else "assessed"
    if old_status == new.status:
        if new.status == Status.NOT_ELIGIBLE:
            return None
        if new.status == Status.GRADUAL_EXIT:
            if old.valid_until != new.valid_until:
                return "gradual_exit_extended"
            if new.monthly_amount_fen < old.monthly_amount_fen:
                return "stepped_down"
        return "amount_changed" if old.monthly_amount_fen != new.monthly_amount_fen else None
    if new.status == Status.NOT_ELIGIBLE:
        return "revoked"
    if new.status == Status.GRADUAL_EXIT:
        return "gradual_exit_started"
    return "gradual_exit_ended" if old_status == Status.GRADUAL_EXIT else "granted"


def decision_changed(decision_id: str, row, old, new, kind: str, as_of: date) -> events.DecisionChanged:
    """The event of one changed decision (`new` is an engine Decision or a bulk one; `row` the read model's)."""
    return events.DecisionChanged(
        decision_id=decision_id,
        household_id=row.household_id,
        region_code=row.region_code,
        cadre_id=row.cadre_id,
        programme=str(new.programme),
        member_id=new.member_id,
        change=kind,
        status=str(new.status),
        previous_status=old.status if old is not None else None,
        monthly_amount_fen=new.monthly_amount_fen,
        previous_monthly_amount_fen=old.monthly_amount_fen if old is not None else None,
        valid_from=new.valid_from,
        valid_until=new.valid_until,
        household_version=row.version,
        as_of=as_of,
        decision_sequence=(row.decision_sequence or 0) + 1,  # the value save_results writes with it
        basis=dibao_basis(str(new.programme), str(new.status), new.member_id, new.valid_until),
    )


async def reevaluate(uow: EligibilityUnitOfWork, row, standards, as_of: date, trigger: str) -> int:
    """Evaluate one household, store what changed, publish changes and new signals. Returns changes published."""
    return await reevaluate_many(uow, [row], StandardIndex(standards), as_of, trigger)


async def reevaluate_many(
    uow: EligibilityUnitOfWork,
    rows,
    standards: StandardIndex,
    as_of: date,
    trigger: str,
    parameter_cache: dict[str, ParameterSet] | None = None,
    triggers: Mapping[str, str] | None = None,
    traces: Mapping[str, TraceContext] | None = None,
) -> int:
    """Evaluate households (read-model rows) and write what changed in a few set-based statements (bulk
    jobs call this with hundreds of rows): new decisions, their events, new signals, and each household's
    state and decisions in force."""
    params_by_region: dict[str, ParameterSet] = {} if parameter_cache is None else parameter_cache
    known_at = standards.known_at
    added, results, signals = [], [], []
    published = 0
    for row in rows:
        # Each household's events continue the trace of the change that caused them.
        trace = (traces or {}).get(row.household_id)
        with use_trace(trace) if trace else contextlib.nullcontext():
            household = input_on(row.snapshot, as_of)
            prior = PriorState.model_validate(row.state) if row.state else None
            if household.region_code not in params_by_region:
                params_by_region[household.region_code] = compile_parameters(standards, household.region_code, as_of)
            try:
                result = evaluate(household, prior, params_by_region[household.region_code], as_of)
            except MissingParameter as exc:
                log.error("household %s not evaluated: %s", household.id, exc)
                continue
            in_force = {d.key: d for d in current_decisions(row.current_decisions)}
            fresh = {(d.programme.value, d.member_id or ""): d for d in result.decisions}
            for key in sorted(set(in_force) | set(fresh)):
                old, new = in_force.get(key), fresh.get(key)
                kind = change_kind(old, new)
                if kind is None:
                    continue
                if new is None:
                    del in_force[key]  # the programme no longer applies to this member; its decision is closed
                    continue
                decision_id = new_record_id()
                in_force[key] = CurrentDecision.of(decision_id, new)
                added.append(
                    dict(
                        id=decision_id,
                        household_id=household.id,
                        decision=new,
                        change=kind,
                        prior_state=row.state,
                        trigger=(triggers or {}).get(row.household_id, trigger),
                    )
                )
                if kind == "assessed":
                    continue  # a first "not eligible" is kept with its explanation, but nobody needs an alert
                published += 1
                uow.emit(decision_changed(decision_id, row, old, new, kind, as_of), subject=row.household_id)
            already = set(prior.active_signals) if prior else set()
            for signal in result.signals:
                if signal.kind in already:
                    continue  # raised before and still standing: one alert, not one per evaluation
                signal_id = new_record_id()
                signals.append(
                    dict(
                        id=signal_id,
                        household_id=household.id,
                        kind=signal.kind,
                        category=signal.category,
                        evidence=signal.evidence,
                    )
                )
                uow.emit(
                    events.SignalRaised(
                        signal_id=signal_id,
                        household_id=row.household_id,
                        region_code=household.region_code,
                        cadre_id=row.cadre_id,
                        kind=signal.kind,
                        category=signal.category,
                        evidence={k: v for k, v in signal.evidence.items() if k not in PERSONAL_FACTS},
                        sealed_evidence=_sealed_personal_facts(uow, signal.evidence),
                    ),
                    subject=row.household_id,
                )
            results.append((row.household_id, result.next_state, stored_current(in_force.values())))
    await uow.decisions.add_many(
        added, as_of=as_of, trigger=trigger, versions={r.household_id: r.version for r in rows}, known_at=known_at
    )
    await uow.signals.add_many(signals)
    await uow.households.save_results(results)
    return published


# --- explanations ---------------------------------------------------------------------------------


async def explanation_of(uow: EligibilityUnitOfWork, decision) -> dict:
    """A decision's explanation: stored, or reproduced by re-running the scalar engine on the decision's
    own inputs (snapshot version, prior state, standards as known at) for decisions a bulk run made.
    The reproduction must give the stored result; if it does not (the engine changed in between), say so."""
    if decision.explanation is not None:
        return decision.explanation
    snapshot = await uow.households.snapshot_at(decision.household_id, decision.household_version)
    if snapshot is None:
        raise Conflict(f"decision {decision.id}: household snapshot version {decision.household_version} is not kept")
    standards = StandardIndex(await uow.standards.for_region(snapshot["region_code"]))
    params = compile_parameters(standards, snapshot["region_code"], decision.as_of, known_at=decision.known_at)
    prior = PriorState.model_validate(decision.prior_state) if decision.prior_state else None
    result = evaluate(input_on(snapshot, decision.as_of), prior, params, decision.as_of)
    for again in result.decisions:
        if (again.programme.value, again.member_id) != (decision.programme, decision.member_id):
            continue
        if (again.status.value, again.monthly_amount_fen, again.valid_from, again.valid_until) == (
            decision.status,
            decision.monthly_amount_fen,
            decision.valid_from,
            decision.valid_until,
        ):
            return {**again.explanation, "reproduced": True}
    raise Conflict(
        f"decision {decision.id} could not be reproduced by engine {ENGINE_VERSION} "
        f"(rule set {RULE_SET_HASH}); its stored result stands",
        decision_id=decision.id,
    )


# --- standards ------------------------------------------------------------------------------------


def _two_lines_year(region_code: str) -> int | None:
    for county in jilin_counties():
        if county["code"] == region_code[:6]:
            return county["two_lines_year"]
    return None


def new_standard(body: dict, recorded_by: str, recorded_at: datetime) -> Standard:
    category = Category(body["category"])
    kind = kind_of(category)
    if kind == Kind.MONEY:
        if body.get("amount_fen") is None or body.get("period") is None:
            raise ValidationProblem.field(
                "amount_fen", "money_needs_amount_and_period", f"{category.value} is money: give amount_fen and period"
            )
        value, period = Decimal(body["amount_fen"]), body["period"]
    else:
        if body.get("value") is None:
            raise ValidationProblem.field("value", "value_required", f"{category.value} is a {kind.value}: give value")
        value, period = Decimal(str(body["value"])), None
        if kind == Kind.MONTHS and value != int(value):
            raise ValidationProblem.field("value", "whole_months", "a number of months is a whole number")
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -4:
            raise ValidationProblem.field("value", "four_decimals", "ratios have at most four decimals")
    if body.get("effective_to") and body["effective_to"] < body["effective_from"]:
        raise ValidationProblem.field("effective_to", "period_order", "effective_to is before effective_from")
    return Standard(
        region_code=body["region_code"],
        category=category,
        effective_from=body["effective_from"],
        effective_to=body.get("effective_to"),
        value=value,
        period=period,
        legal_ref=body["legal_ref"],
        recorded_at=recorded_at,
        recorded_by=recorded_by,
    )


async def record_standard(uow: EligibilityUnitOfWork, standard: Standard) -> Standard:
    """Store a standard after checking the documents' floors (POLICY §2.1)."""
    known = await uow.standards.for_region(standard.region_code)
    on = standard.effective_from
    breach = check_floor(
        standard,
        two_lines_year=_two_lines_year(standard.region_code),
        poverty_line=resolve(known, standard.region_code, Category.POVERTY_LINE, on),
        disposable_income=resolve(known, standard.region_code, Category.RURAL_DISPOSABLE_INCOME, on),
    )
    if breach:
        raise ValidationProblem(
            f"{breach.message} (floor {breach.floor_value}; {breach.source.document} {breach.source.section})",
            errors=[
                {
                    "field": "amount_fen" if kind_of(standard.category) == Kind.MONEY else "value",
                    "rule": "policy_floor",
                    "message": breach.message,
                    "floor": breach.floor_value,
                    "source": breach.source.as_dict(),
                }
            ],
        )
    return await uow.standards.add(standard)
