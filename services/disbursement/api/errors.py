"""How the API answers errors the disbursement domain raises (it knows nothing of HTTP)."""

from __future__ import annotations

from services.disbursement.domain.ledger import TransferRefused
from shared.errors import Conflict, ProblemFactory


class LedgerRefused(Conflict):
    slug, title = "ledger-refused", "The ledger refused the transfer"


DOMAIN_ERRORS: dict[type[Exception], ProblemFactory] = {
    TransferRefused: lambda exc: LedgerRefused(
        str(exc),
        errors=[{"field": "amount_fen", "rule": exc.code, "message": str(exc)}],  # type: ignore[attr-defined]
    ),
}
