#!/usr/bin/env bash
# Runs the whole system on the embedded default (SQLite + in-process bus, demo data loaded).
# Needs only Python 3.11; installs uv and the locked dependencies on first use.
set -euo pipefail
cd "$(dirname "$0")"
command -v uv >/dev/null || python3 -m pip install --quiet uv
uv sync --frozen --quiet
exec uv run --frozen python -m services "$@"
