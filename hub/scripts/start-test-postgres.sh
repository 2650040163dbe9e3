#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster for the hub's tests, as the unprivileged
# `postgres` user, in /tmp. Idempotent: running it again reuses a running cluster.
# Prints the line to export, e.g.
#   export OUTREACH_TEST_PG_URL=postgres://postgres@127.0.0.1:55432/postgres
# Usage: eval "$(hub/scripts/start-test-postgres.sh)"   (progress goes to stderr)
set -euo pipefail

PGDATA_DIR="${OUTREACH_PG_DIR:-/tmp/outreach-pgtest}"
PORT="${OUTREACH_PG_PORT:-55432}"
PGUSER_OS="${OUTREACH_PG_OS_USER:-postgres}"

find_bin() {
    local name=$1
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/"$name"; do
        [ -x "$candidate" ] && { echo "$candidate"; return; }
    done
    echo "start-test-postgres: cannot find $name (install PostgreSQL server binaries)" >&2
    exit 1
}

INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)

# Run a command as the unprivileged cluster owner (PostgreSQL refuses to run as root).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        su "$PGUSER_OS" -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

if [ "$(id -u)" -eq 0 ] && ! id "$PGUSER_OS" >/dev/null 2>&1; then
    echo "start-test-postgres: user $PGUSER_OS does not exist" >&2
    exit 1
fi

if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
    mkdir -p "$PGDATA_DIR"
    [ "$(id -u)" -eq 0 ] && chown "$PGUSER_OS" "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    as_owner "'$INITDB' -D '$PGDATA_DIR' -U postgres --auth=trust --no-sync -E UTF8" >&2
fi

if as_owner "'$PG_CTL' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
    echo "start-test-postgres: already running in $PGDATA_DIR" >&2
else
    # Loopback TCP and a socket in the data dir only; fsync off: this cluster is throwaway.
    as_owner "'$PG_CTL' -D '$PGDATA_DIR' -l '$PGDATA_DIR/server.log' -w \
        -o \"-p $PORT -k '$PGDATA_DIR' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" start" >&2
fi

echo "export OUTREACH_TEST_PG_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
