"""How the API answers errors the disbursement domain raises (it knows nothing of HTTP)."""

from __future__ import annotations

from services.disbursement.domain.ledger import TransferRefused
from services.disbursement.domain.reconciliation import StatementInvalid
from shared.errors import Conflict, ProblemFactory, ValidationProblem


class LedgerRefused(Conflict):
    slug, title = "ledger-refused", "The ledger refused the transfer"


def _statement_invalid(exc: StatementInvalid) -> ValidationProblem:
    return ValidationProblem(
        f"the statement is invalid: {exc}",
        errors=[{"field": f"line {exc.line}: {exc.field}", "rule": exc.rule, "message": str(exc)}],
    )


DOMAIN_ERRORS: dict[type[Exception], ProblemFactory] = {
    StatementInvalid: _statement_invalid,  # type: ignore[dict-item]
    TransferRefused: lambda exc: LedgerRefused(
        str(exc),
        errors=[{"field": "amount_fen", "rule": exc.code, "message": str(exc)}],  # type: ignore[attr-defined]
    ),
}
