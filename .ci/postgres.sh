#!/usr/bin/env bash
# Install (Debian package), start and prepare a local PostgreSQL server for the registry tests.
# Usage:  eval "$(bash .ci/postgres.sh)"     -> exports BLINCOMPASS_TEST_PG for the test run
# Progress goes to stderr; the only line on stdout is the export statement. Idempotent.
set -Eeuo pipefail

PG_USER="${PG_USER:-blin}"
PG_PASS="${PG_PASS:-blin}"
PG_DB="${PG_DB:-blin_test}"
PG_PORT="${PG_PORT:-5432}"

log() { echo "postgres.sh: $*" >&2; }
# On failure print a command that fails, so that `eval "$(bash .ci/postgres.sh)"` under `set -e` stops the
# caller instead of silently running the tests without PostgreSQL.
trap 'echo "echo \"postgres.sh failed (line ${LINENO})\" >&2; false"' ERR

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing postgresql (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
log "PostgreSQL ${VERSION}"

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "${VERSION} main"; then
    log "creating cluster ${VERSION}/main"
    pg_createcluster "${VERSION}" main --port "${PG_PORT}" >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="${VERSION}" '$1==v && $2=="main" {print $3}')"
if ! pg_lsclusters -h | awk -v v="${VERSION}" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "starting cluster ${VERSION}/main on port ${PORT}"
    pg_ctlcluster "${VERSION}" main start >&2
fi

for _ in $(seq 1 30); do
    if su postgres -c "pg_isready -q -h 127.0.0.1 -p ${PORT}"; then break; fi
    sleep 1
done
su postgres -c "pg_isready -h 127.0.0.1 -p ${PORT}" >&2

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -q -p ${PORT} -tAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='${PG_USER}'")" != "1" ]; then
    log "creating role ${PG_USER}"
    psql_admin "CREATE ROLE ${PG_USER} LOGIN PASSWORD '${PG_PASS}'"
fi
# The tables' owner creates the application role in `blincompass db init` (tests create one per test);
# CREATEDB lets the backup test restore into a fresh database.
psql_admin "ALTER ROLE ${PG_USER} CREATEROLE CREATEDB"
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='${PG_DB}'")" != "1" ]; then
    log "creating database ${PG_DB}"
    psql_admin "CREATE DATABASE ${PG_DB} OWNER ${PG_USER}"
fi

echo "export BLINCOMPASS_TEST_PG=postgresql+psycopg://${PG_USER}:${PG_PASS}@127.0.0.1:${PORT}/${PG_DB}"
