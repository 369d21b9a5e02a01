#!/usr/bin/env bash
# PostgreSQL from Debian's packages, in a private data directory on its own port.
#   deploy/postgres.sh start|stop|status|env
# Idempotent: start on a running server and stop on a stopped one do nothing. Prints the settings.
source "$(dirname "$0")/common.sh"

PG_PORT="${PG_PORT:-55432}"
PG_DATA="$INFRA_HOME/postgres/data"
PG_LOG="$INFRA_HOME/postgres/postgres.log"
PG_USER="${PG_USER:-assistance}"
PG_PASSWORD="${PG_PASSWORD:-assistance}"

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }; done
  return 1
}

install_server() {
  log "PostgreSQL server not found; installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
}

# initdb and postgres refuse to run as root; run them as the unprivileged 'postgres' user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

print_env() {
  cat <<ENV
PG_HOST=127.0.0.1
PG_PORT=$PG_PORT
PG_USER=$PG_USER
PG_PASSWORD=$PG_PASSWORD
TEST_POSTGRES_URL=postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres
ENV
}

is_ready() { "$BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q; }

cmd="${1:-start}"
BIN="$(find_bin || true)"
case "$cmd" in
  start)
    [ -n "$BIN" ] || { install_server; BIN="$(find_bin)"; }
    if is_ready; then log "already running on port $PG_PORT"; print_env; exit 0; fi
    mkdir -p "$(dirname "$PG_DATA")"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd -r -m postgres; chown -R postgres "$INFRA_HOME/postgres"; }
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
      log "initialising $PG_DATA"
      pwfile="$(mktemp)"; echo "$PG_PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
      as_pg "$BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
      rm -f "$pwfile"
      # Tests create and drop many short-lived databases; durability is not what they measure.
      cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
# Sized like a server rather than the 128 MB default: the province benchmark's tables (~1 GB) fit, and
# a job's WAL does not force a checkpoint every few seconds.
shared_buffers = 1GB
max_wal_size = 4GB
# JSON documents over 2 kB (snapshots, explanations, envelopes) are compressed when stored: lz4 costs a
# fraction of the CPU of the default pglz (shared/DECISIONS.md §10).
default_toast_compression = lz4
CONF
    fi
    as_pg "$BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null
    wait_for "PostgreSQL on port $PG_PORT" 60 is_ready
    log "ready on port $PG_PORT"
    print_env ;;
  stop)
    if [ -n "$BIN" ] && [ -s "$PG_DATA/postmaster.pid" ]; then as_pg "$BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
    log "stopped" ;;
  status) if [ -n "$BIN" ] && is_ready; then echo running; else echo stopped; exit 1; fi ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
