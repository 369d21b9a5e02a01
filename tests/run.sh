#!/usr/bin/env bash
# The full test suite: starts (idempotently) the real PostgreSQL and Apache Kafka from deploy/, installs
# the pinned contract validators (Node), then
# runs pytest on them. Extra arguments go to pytest (e.g. tests/run.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
# The scripts print KEY=value settings on stdout; export exactly those lines.
settings="$(deploy/postgres.sh start; deploy/kafka.sh start)"
while IFS= read -r line; do
  [[ "$line" =~ ^[A-Z_]+=[^[:space:]]*$ ]] && export "${line?}"
done <<< "$settings"
command -v uv >/dev/null || python3 -m pip install --quiet uv
uv sync --frozen --quiet
# The outside validators of our contracts (AsyncAPI parser, Redocly), pinned by package-lock.json.
contracts=tests/contracts
if [[ ! -f $contracts/node_modules/.package-lock.json || $contracts/package-lock.json -nt $contracts/node_modules/.package-lock.json ]]; then
  npm ci --prefix "$contracts" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
# Lint, format and types are part of the suite (only on a full run, not when pytest arguments pick tests).
if [[ $# -eq 0 ]]; then
  uv run --frozen ruff check .
  uv run --frozen ruff format --check .
  uv run --frozen mypy shared services  # strict for shared/ and every domain/ (pyproject.toml)
fi
exec uv run --frozen pytest "$@"
