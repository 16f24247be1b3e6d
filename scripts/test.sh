#!/usr/bin/env bash
# Run the Swift test suite against a private MariaDB (instance "test").
#
#   scripts/test.sh [swift test args...]      e.g. scripts/test.sh --filter MariaDBTests
#
# Environment in:  TEST_DB_PORT (default 3408)
# Environment out (for the tests):
#   EMR_TEST_DB_HOST=127.0.0.1 EMR_TEST_DB_PORT EMR_TEST_DB_USER=emr_test EMR_TEST_DB_PASSWORD=emr_test
#   EMR_TEST_DB_SOCKET=<repo>/.local/mariadb/test/mysqld.sock
#   EMR_TEST_MARIADB_CTL="<repo>/scripts/mariadb-ctl.sh test"   (append start|stop|restart|status)
#   EMR_TEST_REQUIRE_DB=1 EMR_TEST_REPO_ROOT=<repo>
#   EMR_TEST_REAL_SCHEMA_DB=emr_real_schema   only when ../shared/openemr/database.sql exists
# emr_test has ALL PRIVILEGES on *.*; tests create their own randomly named databases.
# The server is stopped on exit. Exit status = swift test's status. A compiler warning in this package's own
# targets is an error here (EMR_WARNINGS_AS_ERRORS=1, see Package.swift).
# TEST_SH_DRY_RUN=1 prints the EMR_TEST_* environment instead of running swift test.
set -euo pipefail

# shellcheck source=lib-mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"
cd "$EMR_REPO_ROOT"

INSTANCE=test
PORT="${TEST_DB_PORT:-3408}"

ensure_packages

trap 'mariadb_stop "$INSTANCE" || true' EXIT
mariadb_start "$INSTANCE" "$PORT"

mariadb_sql "$INSTANCE" <<'SQL'
CREATE USER IF NOT EXISTS 'emr_test'@'127.0.0.1' IDENTIFIED BY 'emr_test';
CREATE USER IF NOT EXISTS 'emr_test'@'localhost' IDENTIFIED BY 'emr_test';
ALTER USER 'emr_test'@'127.0.0.1' IDENTIFIED BY 'emr_test';
ALTER USER 'emr_test'@'localhost' IDENTIFIED BY 'emr_test';
GRANT ALL PRIVILEGES ON *.* TO 'emr_test'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'emr_test'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL

REAL_SCHEMA_SQL="$(cd "$EMR_REPO_ROOT/.." && pwd -P)/shared/openemr/database.sql"
if [ -f "$REAL_SCHEMA_SQL" ]; then
    echo "[test] loading OpenEMR's real schema $REAL_SCHEMA_SQL into emr_real_schema" >&2
    mariadb_load_openemr_schema "$INSTANCE" emr_real_schema "$REAL_SCHEMA_SQL"
    export EMR_TEST_REAL_SCHEMA_DB=emr_real_schema
else
    echo "[test] $REAL_SCHEMA_SQL not found; real-schema tests will be skipped" >&2
    unset EMR_TEST_REAL_SCHEMA_DB
fi

export EMR_TEST_DB_HOST=127.0.0.1
export EMR_TEST_DB_PORT="$PORT"
export EMR_TEST_DB_USER=emr_test
export EMR_TEST_DB_PASSWORD=emr_test
export EMR_TEST_DB_SOCKET
EMR_TEST_DB_SOCKET="$(mariadb_socket "$INSTANCE")"
export EMR_TEST_MARIADB_CTL="$EMR_REPO_ROOT/scripts/mariadb-ctl.sh $INSTANCE"
export EMR_TEST_REQUIRE_DB=1
export EMR_TEST_REPO_ROOT="$EMR_REPO_ROOT"

if [ "${TEST_SH_DRY_RUN:-0}" = "1" ]; then
    env | grep '^EMR_TEST' | sort
    exit 0
fi

# Layout rules (issue 14): the OpenEMR domain never reaches Hummingbird/HTTPTypes; controllers hold no SQL.
bash "$EMR_REPO_ROOT/scripts/check-layout.sh"

# PyJWT in a throwaway virtualenv (.local/pyjwt-venv): the independent judge of the Jitsi tokens (issue 16).
bash "$EMR_REPO_ROOT/scripts/pyjwt-venv.sh" >/dev/null
# schemathesis and openapi-python-client (.local/schemathesis-venv, .local/client-venv): the API contract tests (issue 19).
bash "$EMR_REPO_ROOT/scripts/contract-venv.sh" >/dev/null

# A compiler warning in our own targets (Sources/, Tests/) fails the build (issue 19); dependencies are not affected
# (Package.swift reads this variable).
export EMR_WARNINGS_AS_ERRORS=1

status=0
swift test "$@" || status=$?
exit "$status"
