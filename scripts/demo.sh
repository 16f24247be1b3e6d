#!/usr/bin/env bash
# Run EMRBridge locally against a private MariaDB (instance "demo") filled with OpenEMR demo data.
#
#   scripts/demo.sh           start DB (127.0.0.1:${DEMO_DB_PORT:-3407}), load data once, build, migrate, serve
#   scripts/demo.sh --stop    stop the demo DB
#
# Data is loaded only when `openemr`.`patient_data` does not exist yet, so reruns keep your changes.
# To start over: scripts/demo.sh --stop && rm -rf .local/mariadb/demo
# DEMO_SKIP_BUILD=1 skips swift build; EMR_BRIDGE_BIN overrides the binary path.
set -euo pipefail

# shellcheck source=lib-mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"
cd "$EMR_REPO_ROOT"

INSTANCE=demo
DB_PORT="${DEMO_DB_PORT:-3407}"
BRIDGE_PORT="${BRIDGE_PORT:-8080}"

case "${1:-}" in
    --stop)
        mariadb_stop "$INSTANCE"
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: $0 [--stop]" >&2
        exit 2
        ;;
esac

ensure_packages
mariadb_start "$INSTANCE" "$DB_PORT"

mariadb_sql "$INSTANCE" <<'SQL'
CREATE DATABASE IF NOT EXISTS `openemr` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'openemr'@'127.0.0.1' IDENTIFIED BY 'openemr';
CREATE USER IF NOT EXISTS 'openemr'@'localhost' IDENTIFIED BY 'openemr';
GRANT ALL PRIVILEGES ON `openemr`.* TO 'openemr'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `openemr`.* TO 'openemr'@'localhost';
SQL

have_data="$(mariadb_sql "$INSTANCE" -N -B -e \
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'openemr' AND table_name = 'patient_data'")"
if [ "$have_data" = "0" ]; then
    echo "[demo] loading sql/openemr/fixture.sql and sql/demo/demo-data.sql into openemr" >&2
    mariadb_sql "$INSTANCE" openemr <sql/openemr/fixture.sql
    mariadb_sql "$INSTANCE" openemr <sql/demo/demo-data.sql
else
    echo "[demo] database openemr already has data; not reloading" >&2
fi

if [ "${DEMO_SKIP_BUILD:-0}" != "1" ]; then
    swift build -c release --product emr-bridge
fi

export DB_HOST=127.0.0.1
export DB_PORT="$DB_PORT"
export DB_NAME=openemr
export DB_USER=openemr
export DB_PASSWORD=openemr
export BRIDGE_DEMO=1
# Video visits (issue 16): a demo Jitsi configuration (demo mode signs with the built-in demo secret unless
# JITSI_APP_SECRET is set); point JITSI_DOMAIN/JITSI_SUB at a real Jitsi with token auth to try the meeting links.
export JITSI_DOMAIN="${JITSI_DOMAIN:-meet.example.com}"
export JITSI_APP_ID="${JITSI_APP_ID:-emrbridge-demo}"
export JITSI_SUB="${JITSI_SUB:-meet.jitsi}"
export BRIDGE_PORT
export BRIDGE_SQL_DIR="${BRIDGE_SQL_DIR:-$EMR_REPO_ROOT/sql}"
export BRIDGE_AUDIO_DIR="${BRIDGE_AUDIO_DIR:-$EMR_REPO_ROOT/.local/audio}"
# CORS: a Flutter web app on a local dev server (`flutter run -d chrome` picks a new port each run) may call the demo.
# Set CORS_ALLOWED_ORIGINS yourself to narrow or widen it (an empty value allows no browser origin).
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS-http://localhost:*,http://127.0.0.1:*}"

BIN="${EMR_BRIDGE_BIN:-$EMR_REPO_ROOT/.build/release/emr-bridge}"
"$BIN" migrate

cat <<INFO

  EMRBridge demo:  http://127.0.0.1:${BRIDGE_PORT}/api/health/
  Database:        127.0.0.1:${DB_PORT} (socket $(mariadb_socket "$INSTANCE")), db/user/password openemr/openemr/openemr

  Logins (OpenEMR users):   admin / pass            (administrator)
                            drsmith / doctor123     (provider)
                            drjones / doctor123     (provider)
                            drpatel / doctor123     (provider)
                            frontdesk / front123    (front office, not a provider)
                            drformer / doctor123    (inactive: login must be refused)
  Patient portal:           patient1..patient3 / patient123
  CORS (browser origins):   ${CORS_ALLOWED_ORIGINS:-none}   (CORS_ALLOWED_ORIGINS; :* = any port)

  Stop the server with Ctrl-C; stop the database with: scripts/demo.sh --stop

INFO

exec "$BIN" serve --demo
