# shellcheck shell=bash
# Helpers for private MariaDB instances used by the demo and the test suite.
#
# Source it:   source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"
#
# Every instance NAME lives in <repo>/.local/mariadb/NAME/:
#   data/          datadir (created with mariadb-install-db on first use)
#   mysqld.sock    unix socket
#   mysqld.pid     pid file
#   mysqld.err     error log
#   port           the TCP port of the last start (reused by restart/start without a port)
# The server listens on 127.0.0.1:PORT only. root has no password and is reached through the socket.
# The system mariadb service (if the package started one) is never used.

# Repository root = parent of the directory holding this file.
EMR_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export EMR_REPO_ROOT

_emr_log() { printf '[mariadb] %s\n' "$*" >&2; }

_emr_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _emr_log "need root (or sudo) to run: $*"
        return 1
    fi
}

# Install the build/runtime dependencies with apt, only the ones that are missing.
ensure_packages() {
    local wanted=(mariadb-server mariadb-client libmariadb-dev libcrypt-dev libssl-dev libargon2-dev pkg-config php-cli python3-venv curl)
    local missing=() p status
    for p in "${wanted[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        if [ "$status" != "installed" ]; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    _emr_log "installing missing packages: ${missing[*]}"
    # mariadb-server's postinst may try to start the system service; that is harmless, we run our own mariadbd.
    _emr_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    _emr_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

mariadb_dir() { printf '%s/.local/mariadb/%s' "$EMR_REPO_ROOT" "$1"; }
mariadb_socket() { printf '%s/mysqld.sock' "$(mariadb_dir "$1")"; }
mariadb_pidfile() { printf '%s/mysqld.pid' "$(mariadb_dir "$1")"; }
mariadb_errlog() { printf '%s/mysqld.err' "$(mariadb_dir "$1")"; }

# Saved port of instance NAME (empty when never started).
mariadb_port() {
    local f
    f="$(mariadb_dir "$1")/port"
    if [ -f "$f" ]; then cat "$f"; fi
}

# PID of the running server, or nothing (exit 1) when not running.
mariadb_pid() {
    local pidfile pid
    pidfile="$(mariadb_pidfile "$1")"
    [ -s "$pidfile" ] || return 1
    pid="$(cat "$pidfile")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid after a reboot.
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" != "mariadbd" ]; then return 1; fi
    printf '%s\n' "$pid"
}

mariadb_ping() {
    mariadb-admin --no-defaults --protocol=socket --socket="$(mariadb_socket "$1")" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1
}

mariadb_is_running() { mariadb_pid "$1" >/dev/null && mariadb_ping "$1"; }

# mariadb_start NAME PORT  -- start (or keep) the private server NAME on 127.0.0.1:PORT.
mariadb_start() {
    local name="${1:?instance name}" port="${2:-}"
    local dir datadir sock pidfile errlog runas i
    dir="$(mariadb_dir "$name")"
    datadir="$dir/data"
    sock="$(mariadb_socket "$name")"
    pidfile="$(mariadb_pidfile "$name")"
    errlog="$(mariadb_errlog "$name")"
    if [ -z "$port" ]; then port="$(mariadb_port "$name")"; fi
    if [ -z "$port" ]; then
        _emr_log "mariadb_start $name: no port given and none saved"
        return 1
    fi
    if [ "${#sock}" -gt 100 ]; then
        _emr_log "warning: socket path is ${#sock} chars long; unix sockets allow at most 107"
    fi

    if mariadb_pid "$name" >/dev/null; then
        local saved
        saved="$(mariadb_port "$name")"
        if [ -n "$saved" ] && [ "$saved" != "$port" ]; then
            _emr_log "instance $name already runs on port $saved (asked for $port)"
            return 1
        fi
        for ((i = 0; i < 120; i++)); do
            if mariadb_ping "$name"; then
                _emr_log "instance $name already running (pid $(mariadb_pid "$name"), port $port)"
                return 0
            fi
            mariadb_pid "$name" >/dev/null || break
            sleep 0.5
        done
        if mariadb_pid "$name" >/dev/null; then
            _emr_log "instance $name has a live process but does not answer ping"
            return 1
        fi
    fi

    mkdir -p "$dir"
    runas="$(id -un)"
    if [ ! -d "$datadir/mysql" ]; then
        _emr_log "initialising $datadir"
        rm -rf "$datadir"
        mkdir -p "$datadir"
        mariadb-install-db --no-defaults --user="$runas" --auth-root-authentication-method=normal \
            --skip-test-db --datadir="$datadir" >"$dir/install-db.log" 2>&1 || {
            _emr_log "mariadb-install-db failed:"
            tail -n 30 "$dir/install-db.log" >&2
            return 1
        }
    fi

    # A stale pid file / socket from a killed server would confuse the checks below.
    rm -f "$pidfile" "$sock" "$sock.lock"
    printf '%s\n' "$port" >"$dir/port"
    : >>"$errlog"
    local errlog_offset
    errlog_offset="$(stat -c %s "$errlog")"

    _emr_log "starting $name on 127.0.0.1:$port (socket $sock)"
    # setsid --fork: the server gets its own session so it survives the shell (and the process group)
    # that started it; mariadb-ctl.sh exits right after starting it.
    # shellcheck disable=SC2086
    setsid --fork mariadbd --no-defaults --user="$runas" \
        --datadir="$datadir" --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$pidfile" --log-error="$errlog" --skip-name-resolve \
        --innodb-buffer-pool-size=256M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        ${MARIADB_EXTRA_ARGS:-} \
        </dev/null >>"$dir/mariadbd.out" 2>&1

    for ((i = 0; i < 120; i++)); do
        if mariadb_ping "$name"; then
            _emr_log "instance $name is up (pid $(cat "$pidfile" 2>/dev/null || echo '?'))"
            return 0
        fi
        # The pid file appears early; if its process is gone the start failed.
        if [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            break
        fi
        if tail -c +"$((errlog_offset + 1))" "$errlog" | grep -q '\[ERROR\] Aborting'; then
            break
        fi
        sleep 0.5
    done
    _emr_log "instance $name did not come up (waited up to 60 s); last lines of $errlog:"
    tail -n 30 "$errlog" >&2
    return 1
}

# mariadb_stop NAME  -- stop the server through its pid file and wait until it is gone.
mariadb_stop() {
    local name="${1:?instance name}" pid i
    if ! pid="$(mariadb_pid "$name")"; then
        _emr_log "instance $name is not running"
        rm -f "$(mariadb_pidfile "$name")"
        return 0
    fi
    _emr_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$(mariadb_pidfile "$name")"
            _emr_log "instance $name stopped"
            return 0
        fi
        sleep 0.5
    done
    _emr_log "instance $name did not stop within 60 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    rm -f "$(mariadb_pidfile "$name")" "$(mariadb_socket "$name")"
}

# mariadb_sql NAME [mariadb args...]  -- root client on the instance socket (reads SQL from stdin).
mariadb_sql() {
    local name="${1:?instance name}"
    shift
    mariadb --no-defaults --protocol=socket --socket="$(mariadb_socket "$name")" -uroot \
        --default-character-set=utf8mb4 "$@"
}

# mariadb_load_openemr_schema NAME DB FILE  -- (re)create DB and load OpenEMR's real sql/database.sql
# the way OpenEMR's installer does: relaxed sql_mode and innodb_strict_mode=0 for that session only.
mariadb_load_openemr_schema() {
    local name="${1:?instance}" db="${2:?database}" file="${3:?sql file}"
    mariadb_sql "$name" -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
    {
        printf 'SET SESSION sql_mode = %s;\n' "''"
        printf 'SET SESSION innodb_strict_mode = 0;\n'
        printf 'SET NAMES utf8mb4;\n'
        printf 'SET autocommit = 0;\n'
        cat "$file"
        printf '\nCOMMIT;\n'
    } | mariadb_sql "$name" "$db"
}
