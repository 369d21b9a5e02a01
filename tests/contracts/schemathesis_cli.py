"""The schemathesis CLI, with file bodies it can generate and one workaround for the interpreter we run on.

Import files (JSON Lines, CSV) are `type: string` bodies of media types schemathesis cannot serialise by
itself: it filtered those examples out, and on some seeds failed the operation's health check ("too many
examples filtered"). Strategies registered for them send files instead: JSON Lines of arbitrary objects,
arbitrary text as CSV, so the import endpoints are fuzzed with content rather than skipped.

CPython 3.11.7 sometimes raises SystemError ("AST constructor recursion depth mismatch") from
`ast.parse` when Hypothesis parses a lambda's source file to describe the lambda (schemathesis filters
strategies with lambdas). The description is only a repr, so a failure there falls back to
Hypothesis's own "unknown" description instead of aborting the run. Nothing schemathesis checks
changes."""

from __future__ import annotations

import json
import runpy
import sys

import schemathesis
from hypothesis import strategies as st
from hypothesis.internal import lambda_sources

_json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_json_lines = st.lists(st.dictionaries(st.text(max_size=12), _json_values, max_size=5), max_size=4).map(
    lambda rows: "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
)
for _media in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
    schemathesis.openapi.media_type(_media, _json_lines)
schemathesis.openapi.media_type("text/csv", st.text(max_size=300).map(str.encode))

_describe = lambda_sources._lambda_description


def _tolerant_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _tolerant_description

if __name__ == "__main__":
    sys.argv = ["schemathesis", *sys.argv[1:]]
    runpy.run_module("schemathesis.cli", run_name="__main__")
