"""What a caller may see of a household: personal data in clear only for roles that need it."""

from __future__ import annotations

from datetime import date

from services.registry.domain.exits import ExitCase
from services.registry.domain.identity import mask_id_number, mask_name, mask_phone
from services.registry.domain.model import HEALTH_FLAGS, Household, LifeEventType
from shared.auth import Principal
from shared.public_notice import present_notice
from shared.text import mask_free_text

HEALTH_LIFE_EVENTS = {LifeEventType.HOSPITALISATION.value, LifeEventType.SERIOUS_ILLNESS.value}


def present_household(household: Household, viewer: Principal) -> dict:
    body = household.model_dump(mode="json")
    if viewer.sees_personal_data:
        return body
    body["address"] = mask_name(body["address"])
    body["flags"] = [f for f in body["flags"] if f not in HEALTH_FLAGS]
    for member in body["members"]:
        member["name"] = mask_name(member["name"])
        member["id_number"] = mask_id_number(member["id_number"])
        member["phone"] = mask_phone(member["phone"])
        member["birth_date"] = member["birth_date"][:4] + "-**-**"
        # Health facts are withheld, not masked: a masked grade would still tell.
        member["disability_grade"] = None
        member["serious_illness"] = None
    for income in body["incomes"]:
        income["note"] = mask_free_text(income["note"])
    for asset in body["assets"]:
        asset["description"] = mask_free_text(asset["description"])
    for life_event in body["life_events"]:
        life_event["note"] = mask_free_text(life_event["note"])
        if life_event["type"] in HEALTH_LIFE_EVENTS:
            life_event["type"] = "withheld"
    if body.get("assignment"):
        body["assignment"]["cadre_phone"] = mask_phone(body["assignment"]["cadre_phone"])
    body["personal_data"] = "masked"
    return body


def present_exit_case(case: ExitCase, viewer: Principal, today: date) -> dict:
    """An exit case with where its notice stands today. Reasons and objections are free text (they name
    people): withheld from roles that see masked data, as are the people who objected."""
    body = case.model_dump(mode="json")
    notice = case.notice
    body["notice"] = present_notice(notice, today, viewer.sees_personal_data) if notice else None
    body["notice_ends_on"] = body["notice"]["ends_on"] if notice else None
    body["notice_complete"] = bool(body["notice"] and body["notice"]["complete"])
    body["open_objections"] = body["notice"]["open_objections"] if notice else 0
    if viewer.sees_personal_data:
        return body
    for step in body["steps"]:
        step["reason"] = mask_free_text(step["reason"])
    body["personal_data"] = "masked"
    return body
