"""What a caller may see of a household: personal data in clear only for roles that need it."""
from __future__ import annotations

from services.registry.domain.identity import mask_id_number, mask_name, mask_phone
from services.registry.domain.model import Household
from shared.auth import Principal


def present_household(household: Household, viewer: Principal) -> dict:
    body = household.model_dump(mode="json")
    if viewer.sees_personal_data:
        return body
    body["address"] = mask_name(body["address"])
    for member in body["members"]:
        member["name"] = mask_name(member["name"])
        member["id_number"] = mask_id_number(member["id_number"])
        member["phone"] = mask_phone(member["phone"])
        member["birth_date"] = member["birth_date"][:4] + "-**-**"
        # Health facts are withheld, not masked: a masked grade would still tell.
        member["disability_grade"] = None
        member["serious_illness"] = None
    if body.get("assignment"):
        body["assignment"]["cadre_phone"] = mask_phone(body["assignment"]["cadre_phone"])
    body["personal_data"] = "masked"
    return body
