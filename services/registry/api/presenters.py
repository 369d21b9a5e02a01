"""What a caller may see of a household: personal data in clear only for roles that need it."""

from __future__ import annotations

from services.registry.domain.identity import mask_id_number, mask_name, mask_phone
from services.registry.domain.model import HEALTH_FLAGS, Household, LifeEventType
from shared.auth import Principal

WITHHELD = "***"
HEALTH_LIFE_EVENTS = {LifeEventType.HOSPITALISATION.value, LifeEventType.SERIOUS_ILLNESS.value}


def mask_free_text(text: str | None) -> str | None:
    """Free text (notes, reasons, descriptions) is withheld whole: operators write names and diagnoses
    into it, and no pattern can tell which part is personal."""
    return WITHHELD if text else text


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
