"""Answers built from data the service already trusts (its own rows, shaped by its presenters): serialised
once with orjson, not validated again. FastAPI validates a returned dict against the route's
`response_model` before encoding it; for a page of households that second pass cost more than reading the
page. The route keeps its `response_model` for the OpenAPI document, and schemathesis checks in CI that
what is sent still matches it."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class TrustedJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
