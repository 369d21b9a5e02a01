"""What a caller may see of decisions and signals: explanations cite every rule and input, and some
inputs are health or age facts (a member's age, disability grade, self-care ability, which members are
vulnerable). Roles that see masked data get those inputs, and the rule notes that spell them out,
withheld; amounts, parameters, sources and outcomes stay, so an audit can still follow the arithmetic."""

from __future__ import annotations

from typing import Any

from services.eligibility.domain.model import PERSONAL_FACTS
from shared.auth import Principal

WITHHELD = "withheld"
NOTE_WITHHELD = "（含成员年龄、健康或能力信息，已隐去）"
PERSONAL_INPUTS = PERSONAL_FACTS


def _withhold(values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    hidden = {k: WITHHELD for k in values if k in PERSONAL_INPUTS}
    return {**values, **hidden}, bool(hidden)


def present_explanation(explanation: dict | None, viewer: Principal) -> dict | None:
    if explanation is None or viewer.sees_personal_data:
        return explanation
    rules = []
    for rule in explanation.get("rules", []):
        inputs, hidden = _withhold(rule.get("inputs") or {})
        rules.append({**rule, "inputs": inputs, **({"note_zh": NOTE_WITHHELD} if hidden else {})})
    return {**explanation, "rules": rules, "personal_data": "masked"}


def present_evidence(evidence: dict, viewer: Principal) -> dict:
    return evidence if viewer.sees_personal_data else _withhold(evidence)[0]
