#!/usr/bin/env bash
# Control a private MariaDB instance (see scripts/lib-mariadb.sh).
#
#   scripts/mariadb-ctl.sh NAME start [PORT]    start (PORT defaults to the port of the previous start)
#   scripts/mariadb-ctl.sh NAME stop            stop and wait until the process is gone
#   scripts/mariadb-ctl.sh NAME restart [PORT]  stop + start on the same port/socket/datadir
#   scripts/mariadb-ctl.sh NAME status          exit 0 when running (prints pid, port, socket)
#
# Integration tests use it to kill and restart the server mid-run.
set -euo pipefail

# shellcheck source=lib-mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"

usage() {
    echo "usage: $0 NAME start|stop|restart|status [PORT]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
name="$1"
cmd="$2"
port="${3:-}"
case "$name" in
    '' | */* | .*) echo "invalid instance name: $name" >&2; exit 2 ;;
esac

case "$cmd" in
    start)
        mariadb_start "$name" "${port:-$(mariadb_port "$name")}"
        ;;
    stop)
        mariadb_stop "$name"
        ;;
    restart)
        port="${port:-$(mariadb_port "$name")}"
        mariadb_stop "$name"
        mariadb_start "$name" "$port"
        ;;
    status)
        if mariadb_is_running "$name"; then
            echo "running pid=$(mariadb_pid "$name") port=$(mariadb_port "$name") socket=$(mariadb_socket "$name")"
        else
            echo "stopped"
            exit 1
        fi
        ;;
    *)
        usage
        ;;
esac
