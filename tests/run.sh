#!/usr/bin/env bash
# The full test suite: starts (idempotently) the real PostgreSQL and Apache Kafka from deploy/, then
# runs pytest on them. Extra arguments go to pytest (e.g. tests/run.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/postgres.sh start | sed 's/^/export /')"
eval "$(deploy/kafka.sh start | sed 's/^/export /')"
command -v uv >/dev/null || python3 -m pip install --quiet uv
uv sync --frozen --quiet
exec uv run --frozen pytest "$@"
