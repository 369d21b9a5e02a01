"""How the API answers errors the registry's domain and adapters raise (they know nothing of HTTP)."""

from __future__ import annotations

from services.registry.domain.model import RegistryRuleBroken, StaleVersion
from shared.errors import PreconditionFailed, ProblemFactory, ValidationProblem


class StaleVersionProblem(PreconditionFailed):
    slug = "stale-version"


DOMAIN_ERRORS: dict[type[Exception], ProblemFactory] = {
    StaleVersion: lambda exc: StaleVersionProblem(str(exc)),
    RegistryRuleBroken: lambda exc: ValidationProblem.field(exc.field, exc.rule, str(exc)),  # type: ignore[attr-defined]
}
