# Shared helpers for the infrastructure scripts. Sourced, not run.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything the scripts install or run lives here (ignored by git); override to share between clones.
INFRA_HOME="${INFRA_HOME:-$REPO_ROOT/.infra}"
mkdir -p "$INFRA_HOME"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# wait_for "description" seconds command...
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then log "timed out waiting for $what"; return 1; fi
    sleep 0.5
  done
}
