"""The schemathesis CLI, with one workaround for the interpreter we run on.

CPython 3.11.7 sometimes raises SystemError ("AST constructor recursion depth mismatch") from
`ast.parse` when Hypothesis parses a lambda's source file to describe the lambda (schemathesis filters
strategies with lambdas). The description is only a repr, so a failure there falls back to
Hypothesis's own "unknown" description instead of aborting the run. Nothing schemathesis checks
changes."""

from __future__ import annotations

import runpy
import sys

from hypothesis.internal import lambda_sources

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
