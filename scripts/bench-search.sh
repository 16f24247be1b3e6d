#!/usr/bin/env bash
# Benchmark 8 (issue 18): patient search at 10,000, 100,000 and 1,000,000 patients.
#
#   scripts/bench-search.sh                       all three sizes
#   BENCH_SEARCH_SIZES="10000 100000" scripts/bench-search.sh
#   BENCH_SECONDS=5 (per query kind and size), BENCH_SEARCH_CLIENTS=16
#
# For each size: a database with OpenEMR's tables, the demo logins and N patients from scripts/gen-patients.py (kept
# between runs: the first 1M load and search build take several minutes), `emr-bridge migrate` (search copy built),
# a release server, then wrk with 16 connections for each kind of query the front desk types: one word of 2–3 letters,
# two words ("smith j"), a pubpid, 3–7 phone digits, an e-mail prefix, a word with ?dob=, a word with ?sex=; prints
# p50/p99 and requests/s per kind, and the CPU per search (bridge and mariadbd) over all kinds: the cost per search
# should stay flat (at most logarithmic) as the patients grow 100-fold. Then how long a patient changed directly in
# the database takes to show up in the search, and what one catch-up read costs with and without the index on
# patient_data(last_updated). Prints figures; asserts nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"
cd "$EMR_REPO_ROOT"

INSTANCE=bench-search
DB_PORT="${BENCH_SEARCH_DB_PORT:-3410}"
HTTP_PORT="${BENCH_HTTP_PORT:-8182}"
SECONDS_PER_RUN="${BENCH_SECONDS:-5}"
CLIENTS="${BENCH_SEARCH_CLIENTS:-16}"
SIZES="${BENCH_SEARCH_SIZES:-10000 100000 1000000}"

ensure_packages
command -v wrk >/dev/null || _emr_as_root apt-get install -y -qq wrk >/dev/null
MARIADB_EXTRA_ARGS="--innodb-buffer-pool-size=${BENCH_BUFFER_POOL:-3G} --local-infile=1 --innodb-log-file-size=512M" mariadb_start "$INSTANCE" "$DB_PORT"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    mariadb_stop "$INSTANCE" || true
}
trap cleanup EXIT

swift build -c release --product emr-bridge --scratch-path .build-bench >&2
BIN=.build-bench/release/emr-bridge
mkdir -p .local/searchdata
mariadb_sql "$INSTANCE" -e "CREATE USER IF NOT EXISTS 'bench'@'127.0.0.1' IDENTIFIED BY 'bench-Secret-1'; GRANT ALL PRIVILEGES ON *.* TO 'bench'@'127.0.0.1';"
db_pid="$(mariadb_pid "$INSTANCE")"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

for size in $SIZES; do
    db="emr_search_$size"
    exists="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$db' AND table_name='mmt_patient_search'")"
    if [ "$exists" = "0" ]; then
        echo "[bench-search] loading $size patients into $db" >&2
        mariadb_sql "$INSTANCE" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
        mariadb_sql "$INSTANCE" "$db" <sql/openemr/fixture.sql
        mariadb_sql "$INSTANCE" "$db" <sql/demo/demo-data.sql
        file=".local/searchdata/patients-$size.tsv"
        [ -s "$file" ] || python3 scripts/gen-patients.py --count "$((size - 200))" --first-pid 1000 --seed 7 >"$file"
        mariadb_sql "$INSTANCE" --local-infile=1 "$db" -e "SET SESSION sql_mode=''; LOAD DATA LOCAL INFILE '$file' INTO TABLE patient_data CHARACTER SET utf8mb4
            (pid, pubpid, @u, fname, mname, lname, DOB, sex, email, phone_home, phone_cell, street, city, state, postal_code, country_code, status, providerID, date, regdate)
            SET uuid = UNHEX(@u);"
    fi
    export DB_HOST=127.0.0.1 DB_PORT="$DB_PORT" DB_NAME="$db" DB_USER=bench DB_PASSWORD=bench-Secret-1 DB_POOL_SIZE="${DB_POOL_SIZE:-16}"
    export LOG_LEVEL=warning BRIDGE_PORT="$HTTP_PORT" BRIDGE_AUDIO_DIR="$EMR_REPO_ROOT/.local/bench-audio"
    start=$(date +%s)
    "$BIN" migrate >/dev/null
    echo "[bench-search] migrate (and search copy build when new) took $(($(date +%s) - start)) s" >&2
    "$BIN" serve >/tmp/emr-bridge-bench-search.log 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/api/health/" >/dev/null && break; sleep 0.2; done
    token="$(curl -sf -X POST "http://127.0.0.1:$HTTP_PORT/api/auth/login/" -H 'Content-Type: application/json' -d '{"username":"drsmith","password":"doctor123"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
    patients="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT COUNT(*) FROM $db.patient_data")"
    echo
    echo "== 8. Patient search, $patients patients, $CLIENTS connections, ${SECONDS_PER_RUN}s per kind (p50 / p99 / searches/s)"
    total_requests=0
    before=("$(cpu_ticks "$server_pid")" "$(cpu_ticks "$db_pid")")
    for kind in word two-words pubpid phone email word+dob word+sex; do
        lua="$(mktemp --suffix=.lua)"
        cat >"$lua" <<LUA
local kind = "$kind"
local size = $size
local words = { "jo", "ma", "sm", "gar", "li", "an", "da", "wi", "mi", "ro", "br", "ch", "ke", "pa", "th", "lo", "he", "ja" }
local pairs = { "smith+j", "johnson+m", "garcia+ma", "brown+da", "lee+s", "williams+r", "jones+a", "miller+j", "davis+l", "martinez+jo" }
local emails = { "john.s", "mary_j", "james", "jennifer.d", "robert", "maria.g", "david_w", "linda", "michael.b", "susan" }
local areas = { "617", "212", "415", "312", "713", "305", "206", "303" }
math.randomseed(os.time() + math.random(1, 1000000))
request = function()
  local q
  if kind == "word" then q = "search=" .. words[math.random(#words)]
  elseif kind == "two-words" then q = "search=" .. pairs[math.random(#pairs)]
  elseif kind == "pubpid" then q = "search=" .. tostring(math.random(1000, 1000 + size - 201))
  elseif kind == "phone" then
    local r = math.random(3)
    if r == 1 then q = "search=" .. areas[math.random(#areas)]
    elseif r == 2 then q = "search=" .. tostring(math.random(2000, 9999))
    else q = "search=" .. areas[math.random(#areas)] .. tostring(math.random(200, 999)) .. tostring(math.random(0, 9)) end
  elseif kind == "email" then q = "search=" .. emails[math.random(#emails)]
  elseif kind == "word+dob" then q = "search=" .. words[math.random(#words)] .. string.format("&dob=%04d-%02d-%02d", math.random(1930, 2024), math.random(1, 12), math.random(1, 28))
  else q = "search=" .. words[math.random(#words)] .. "&sex=" .. (math.random(2) == 1 and "Female" or "Male") end
  return wrk.format("GET", "/api/patients/?" .. q .. "&page_size=20", { ["Authorization"] = "Bearer $token" })
end
LUA
        out="$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_RUN}s" --latency -s "$lua" "http://127.0.0.1:$HTTP_PORT")"
        rm -f "$lua"
        requests="$(echo "$out" | awk '/requests in/ {print $1}')"
        total_requests=$((total_requests + requests))
        printf '%-10s p50 %-9s p99 %-9s %8s/s%s\n' "$kind" "$(echo "$out" | awk '/ 50%/ {print $2}')" "$(echo "$out" | awk '/ 99%/ {print $2}')" \
            "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s ' ' | sed 's/^/  WARNING:/' | tr '\n' ' ')"
    done
    python3 -c "print('cpu per search: bridge %.0f us, mariadbd %.0f us' % (($(cpu_ticks "$server_pid") - ${before[0]}) * 1e6 / $hz / $total_requests, ($(cpu_ticks "$db_pid") - ${before[1]}) * 1e6 / $hz / $total_requests))"

    # Freshness: a patient renamed directly in the database (as OpenEMR would), until the search finds it.
    pid="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT MAX(pid) FROM $db.patient_data")"
    name="Fresh$RANDOM$RANDOM"
    mariadb_sql "$INSTANCE" "$db" -e "UPDATE patient_data SET lname = '$name' WHERE pid = $pid"
    t0=$(date +%s%N)
    until curl -sf "http://127.0.0.1:$HTTP_PORT/api/patients/?search=$name" -H "Authorization: Bearer $token" | grep -q "\"pid\":$pid"; do
        sleep 0.02
        if [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 20000 ]; then echo "freshness: not found after 20 s"; break; fi
    done
    echo "freshness: a direct UPDATE was found by the search after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

    # One catch-up read's cost on patient_data, with and without the index on last_updated.
    catchup="SELECT COUNT(*) FROM patient_data WHERE last_updated >= NOW() - INTERVAL 300 SECOND"
    t0=$(date +%s%N); mariadb_sql "$INSTANCE" "$db" -N -B -e "$catchup" >/dev/null; with=$(( ($(date +%s%N) - t0) / 1000 ))
    t0=$(date +%s%N); mariadb_sql "$INSTANCE" "$db" -N -B -e "$catchup" >/dev/null; with=$(( ($(date +%s%N) - t0) / 1000 ))
    t0=$(date +%s%N); mariadb_sql "$INSTANCE" "$db" -N -B -e "${catchup/FROM patient_data/FROM patient_data IGNORE INDEX (mmt_patient_data_last_updated)}" >/dev/null
    without=$(( ($(date +%s%N) - t0) / 1000 ))
    echo "catch-up read of the last 5 minutes' changes (client round trip included): ${with} us with the index on last_updated, ${without} us without"
done
