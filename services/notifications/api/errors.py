"""How the API answers errors the notifications domain raises (it knows nothing of HTTP)."""

from __future__ import annotations

from services.notifications.domain.alerts import AlertStepRefused
from shared.errors import Conflict, ProblemFactory


class AlertStepConflict(Conflict):
    slug, title = "alert-step-refused", "The alert is not in a state that allows this step"


DOMAIN_ERRORS: dict[type[Exception], ProblemFactory] = {
    AlertStepRefused: lambda exc: AlertStepConflict(
        str(exc),
        errors=[{"field": "status", "rule": exc.rule, "message": str(exc)}],  # type: ignore[attr-defined]
    ),
}
