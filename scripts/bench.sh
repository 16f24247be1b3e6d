#!/usr/bin/env bash
# Performance figures for the issues' targets. Prints numbers; asserts nothing.
#
#   scripts/bench.sh            all benchmarks
#   BENCH_SECONDS=20 scripts/bench.sh
#   BENCH_ONLY="1 3" scripts/bench.sh   some of them
#
# 1. GET /api/patients/{pid}/ with a valid token, 10,000 patients, 64 connections, random pids (wrk), against
#    MariaDB's own rate for the same primary-key select through its C client at the same concurrency (mysqlslap).
# 2. The same for a patient search page.
# 3. Logins flat out (bcrypt): logins/s against cores ÷ one verify time, and /api/health/ p99 meanwhile.
# 4. Sign-in failures look alike: median time of unknown user / wrong password / inactive user / locked account over
#    many interleaved attempts; then 40 parallel guesses sent to two bridge processes on one database, and how many
#    of them reached a hash check (password_max_failed_logins = 3).
# 5. Transcriptions: create with 1,000 segments (median, and mean against MariaDB's own client inserting the same rows into
#    tables shaped and indexed the same), read back, and a 200 MiB audio upload (MB/s, server RSS growth).
# 6. Jitsi tokens (issue 16): tokens per CPU-second for HS256 and RS256 minted in process (the hidden
#    `emr-bridge mint-token --bench N`) and by PyJWT in the same run (target: HS256 at least 10x PyJWT); then 1,000
#    patients waiting on event streams, each with its own bridge token (BENCH_STREAM_TOKENS to share fewer): the
#    bridge's CPU while idle-waiting (target < 5 % of one core) and mariadbd's, the database statements per second it
#    causes (the change poll and the token check), and how long until all 1,000 hear "live" after the provider's start.
# 7. Batch import of encounters: `emr-bridge import-encounters` of BENCH_IMPORT_ROWS (default 1,000,000) CSV rows into
#    a fresh copy of the OpenEMR tables (rows/s end to end, peak RSS), against MariaDB's own LOAD DATA LOCAL INFILE of
#    the same rows, as the import writes them, into the same three tables (form_encounter, forms, uuid_registry),
#    timed in the same run; prints both and the ratio. BENCH_IMPORT_JOBS (default 4, the fastest here) parallel writers.
# Uses a private MariaDB instance "bench" (127.0.0.1:${BENCH_DB_PORT:-3409}) and a release build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-mariadb.sh"
cd "$EMR_REPO_ROOT"

INSTANCE=bench
DB_PORT="${BENCH_DB_PORT:-3409}"
HTTP_PORT="${BENCH_HTTP_PORT:-8181}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ONLY="${BENCH_ONLY:-1 2 3 4 5 6 7}" # e.g. BENCH_ONLY=1 runs only the first benchmark
wants() { [[ " $ONLY " == *" $1 "* ]]; }
CONNECTIONS=64

ensure_packages
command -v wrk >/dev/null || _emr_as_root apt-get install -y -qq wrk >/dev/null
command -v mysqlslap >/dev/null || command -v mariadb-slap >/dev/null || _emr_as_root apt-get install -y -qq mariadb-client >/dev/null
SLAP="$(command -v mariadb-slap || command -v mysqlslap)"

mariadb_start "$INSTANCE" "$DB_PORT"
server_pid=""
second_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "$second_pid" ] && kill "$second_pid" 2>/dev/null || true
    mariadb_stop "$INSTANCE" || true
}
trap cleanup EXIT

mariadb_sql "$INSTANCE" <<'SQL'
CREATE DATABASE IF NOT EXISTS emr_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'bench'@'127.0.0.1' IDENTIFIED BY 'bench-Secret-1';
GRANT ALL PRIVILEGES ON emr_bench.* TO 'bench'@'127.0.0.1';
SQL
count="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='emr_bench' AND table_name='patient_data'")"
if [ "$count" = "0" ]; then
    echo "[bench] loading fixture + demo data and growing patient_data to 10,000 rows" >&2
    mariadb_sql "$INSTANCE" emr_bench <sql/openemr/fixture.sql
    mariadb_sql "$INSTANCE" emr_bench <sql/demo/demo-data.sql
    mariadb_sql "$INSTANCE" emr_bench <<'SQL'
SET SESSION sql_mode = '';
INSERT INTO patient_data (pid, pubpid, uuid, title, fname, mname, lname, DOB, sex, email, phone_home, phone_cell, street, city, state, postal_code, country_code, status, providerID, date, regdate)
SELECT 200 + s.n * 200 + p.pid, CAST(200 + s.n * 200 + p.pid AS CHAR), UNHEX(REPLACE(UUID(), '-', '')), p.title, p.fname, p.mname, p.lname, p.DOB, p.sex,
       CONCAT('b', s.n, '.', p.email), p.phone_home, p.phone_cell, p.street, p.city, p.state, p.postal_code, p.country_code, p.status, p.providerID, p.date, p.regdate
FROM patient_data p JOIN (SELECT seq AS n FROM seq_0_to_48) s WHERE p.pid <= 200;
SQL
fi
echo "[bench] patients: $(mariadb_sql "$INSTANCE" -N -B -e 'SELECT COUNT(*) FROM emr_bench.patient_data')" >&2

# Own build folder, so a benchmark does not hold the development build lock.
swift build -c release --product emr-bridge --scratch-path .build-bench >&2
BIN=.build-bench/release/emr-bridge
export DB_HOST=127.0.0.1 DB_PORT="$DB_PORT" DB_NAME=emr_bench DB_USER=bench DB_PASSWORD=bench-Secret-1 DB_POOL_SIZE="${DB_POOL_SIZE:-16}"
export LOG_LEVEL=warning BRIDGE_PORT="$HTTP_PORT" BRIDGE_AUDIO_DIR="$EMR_REPO_ROOT/.local/bench-audio"
# Benchmark 6: video on (HS256), the event poller at its default interval; 1,000 streams need file descriptors.
export JITSI_DOMAIN=meet.example.com JITSI_APP_ID=emrbridge JITSI_SUB=meet.jitsi JITSI_APP_SECRET=bench-jitsi-secret-0123456789abcdef0123
ulimit -n 65536 2>/dev/null || true
"$BIN" migrate >/dev/null
# Benchmark 4: a lock after 3 failures; no per-address lock (every attempt comes from 127.0.0.1).
mariadb_sql "$INSTANCE" emr_bench <<'SQL'
DELETE FROM globals WHERE gl_name IN ('password_max_failed_logins', 'ip_max_failed_logins');
INSERT INTO globals (gl_name, gl_index, gl_value) VALUES ('password_max_failed_logins', 0, '3'), ('ip_max_failed_logins', 0, '0');
DELETE FROM ip_tracking;
SQL
"$BIN" serve >/tmp/emr-bridge-bench.log 2>&1 &
server_pid=$!
db_pid="$(mariadb_pid "$INSTANCE")"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$HTTP_PORT/api/health/" >/dev/null && break; sleep 0.2; done

token="$(curl -sf -X POST "http://127.0.0.1:$HTTP_PORT/api/auth/login/" -H 'Content-Type: application/json' -d '{"username":"drsmith","password":"doctor123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

lua="$(mktemp --suffix=.lua)"
cat >"$lua" <<LUA
math.randomseed(os.time())
request = function()
  local pid = math.random(1, 10000)
  return wrk.format("GET", "/api/patients/" .. pid .. "/", { ["Authorization"] = "Bearer $token" })
end
LUA
search_lua="$(mktemp --suffix=.lua)"
cat >"$search_lua" <<LUA
local names = { "jo", "ma", "sm", "gar", "li", "an", "da", "wi" }
request = function()
  local q = names[math.random(1, #names)]
  return wrk.format("GET", "/api/patients/?search=" .. q .. "&page_size=20", { ["Authorization"] = "Bearer $token" })
end
LUA

rate_of() { awk '/Requests\/sec/ {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a process, in clock ticks
# CPU time per request of the bridge and of mariadbd over a wrk run: steadier than rates on a noisy VM.
cpu_per_request() { # $1 = ticks of the bridge before, $2 = of mariadbd before, $3 = wrk output
    local requests hz
    requests="$(echo "$3" | awk '/requests in/ {print $1}')"
    hz="$(getconf CLK_TCK)"
    python3 -c "print('cpu per request: bridge %.0f us, mariadbd %.0f us' % (($(cpu_ticks "$server_pid") - $1) * 1e6 / $hz / $requests, ($(cpu_ticks "$db_pid") - $2) * 1e6 / $hz / $requests))"
}
p99_of() { awk '/ 99%/ {print $2}'; }

slap_rate() { # $1 = file of ';'-separated queries; prints queries/s at $CONNECTIONS clients
    local queries=$((CONNECTIONS * 400))
    local secs
    secs="$("$SLAP" --no-defaults -h 127.0.0.1 -P "$DB_PORT" -u bench -pbench-Secret-1 --create-schema=emr_bench \
        --concurrency="$CONNECTIONS" --iterations=1 --number-of-queries="$queries" --delimiter=";" --query="$1" 2>/dev/null |
        awk '/Average number of seconds/ {print $(NF-1)}')"
    python3 -c "print(round($queries / max($secs, 1e-9)))"
}

# The same random primary keys for MariaDB (RAND() in WHERE would scan the table).
pk_queries="$(mktemp --suffix=.sql)"
python3 - "$pk_queries" <<'PY'
import random, sys
cols = "pid, pubpid, uuid, title, fname, mname, lname, DOB, sex, email, phone_home, phone_cell, street, city, state, postal_code, country_code, status, providerID, date"
with open(sys.argv[1], "w") as f:
    f.write(";".join("SELECT %s FROM patient_data WHERE pid = %d" % (cols, random.randint(1, 10000)) for _ in range(2000)))
PY
search_queries="$(mktemp --suffix=.sql)"
python3 - "$search_queries" <<'PY'
import sys
cols = "pid, pubpid, uuid, title, fname, mname, lname, DOB, sex, email, phone_home, phone_cell, street, city, state, postal_code, country_code, status, providerID, date"
names = ["jo", "ma", "sm", "gar", "li", "an", "da", "wi"]
where = "fname LIKE '{0}%' OR lname LIKE '{0}%' OR mname LIKE '{0}%' OR pubpid LIKE '{0}%' OR email LIKE '{0}%'"
with open(sys.argv[1], "w") as f:
    f.write(";".join("SELECT COUNT(*) FROM patient_data WHERE (%s);SELECT %s FROM patient_data WHERE (%s) ORDER BY pid LIMIT 20" % (where.format(n), cols, where.format(n)) for n in names))
PY

if wants 1; then
echo
echo "== 1. GET /api/patients/{pid}/ (10,000 patients, $CONNECTIONS connections, ${SECONDS_PER_RUN}s)"
before=("$(cpu_ticks "$server_pid")" "$(cpu_ticks "$db_pid")")
out="$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$lua" "http://127.0.0.1:$HTTP_PORT")"
bridge_rate="$(echo "$out" | rate_of)"
echo "bridge:  $bridge_rate req/s, p99 $(echo "$out" | p99_of)"
echo "$out" | grep -E "Non-2xx|Socket errors" | sed 's/^ */WARNING (rate not comparable): /' || true
cpu_per_request "${before[0]}" "${before[1]}" "$out"
db_rate="$(slap_rate "$pk_queries")"
echo "mariadb: $db_rate queries/s (mysqlslap, same select, $CONNECTIONS clients)"
python3 -c "print('ratio bridge/mariadb: %.2f (target >= 0.50)' % ($bridge_rate / $db_rate))"

fi
if wants 2; then
echo
echo "== 2. GET /api/patients/?search=… (page of 20, $CONNECTIONS connections, ${SECONDS_PER_RUN}s)"
before=("$(cpu_ticks "$server_pid")" "$(cpu_ticks "$db_pid")")
out="$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$search_lua" "http://127.0.0.1:$HTTP_PORT")"
bridge_rate="$(echo "$out" | rate_of)"
echo "bridge:  $bridge_rate req/s, p99 $(echo "$out" | p99_of)"
echo "$out" | grep -E "Non-2xx|Socket errors" | sed 's/^ */WARNING (rate not comparable): /' || true
cpu_per_request "${before[0]}" "${before[1]}" "$out"
db_rate="$(slap_rate "$search_queries")"
echo "mariadb: $db_rate queries/s (mysqlslap: the page's COUNT and SELECT, $CONNECTIONS clients) = $((db_rate / 2)) pages/s"
python3 -c "print('ratio bridge/mariadb pages: %.2f' % ($bridge_rate / ($db_rate / 2)))"

fi
if wants 3; then
echo
echo "== 3. Logins flat out (bcrypt cost 10) and /api/health/ meanwhile"
# One verify, timed with the library the bridge itself calls (libcrypt's crypt(), through Python's crypt module),
# and with PHP's own bcrypt for reference; timed right before and right after the run (the mean is the yardstick,
# so that a drift of this VM's speed during the run does not bias the figure).
verify_php() { php -r '$h=password_hash("x", PASSWORD_BCRYPT, ["cost"=>10]); $t=microtime(true); for($i=0;$i<20;$i++) password_verify("x",$h); echo (microtime(true)-$t)/20;'; }
verify_libcrypt() {
    python3 -W ignore - <<'PY' 2>/dev/null || verify_php
import crypt, time
h = crypt.crypt("x", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024))
assert h.startswith("$2b$10$")
start = time.time()
for _ in range(20):
    crypt.crypt("x", h)
print((time.time() - start) / 20)
PY
}
one_php="$(verify_php)"
one_before="$(verify_libcrypt)"
login_lua="$(mktemp --suffix=.lua)"
cat >"$login_lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"drsmith","password":"doctor123"}'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t1 -c16 -d"${SECONDS_PER_RUN}s" -s "$login_lua" "http://127.0.0.1:$HTTP_PORT/api/auth/login/" >/tmp/emr-bench-login.txt &
login_pid=$!
sleep 1
# Health probed the way a load balancer does (20 requests/s, one at a time), not flat out.
health_p99="$(python3 - "http://127.0.0.1:$HTTP_PORT/api/health/" "$((SECONDS_PER_RUN - 2))" <<'PY'
import sys, time, http.client, urllib.parse
url, seconds = urllib.parse.urlparse(sys.argv[1]), float(sys.argv[2])
latencies, end = [], time.time() + seconds
while time.time() < end:
    start = time.time()
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    connection.request("GET", url.path)
    connection.getresponse().read()
    connection.close()
    latencies.append((time.time() - start) * 1000)
    time.sleep(max(0, 0.05 - (time.time() - start)))
latencies.sort()
print("%.2fms over %d probes" % (latencies[int(0.99 * (len(latencies) - 1))], len(latencies)))
PY
)"
wait "$login_pid"
one_after="$(verify_libcrypt)"
one="$(python3 -c "print(($one_before + $one_after) / 2)")"
login_rate="$(rate_of </tmp/emr-bench-login.txt)"
cores="$(nproc)"
python3 -c "
ideal = $cores / $one
print('one bcrypt cost-10 verify: %.1f ms with libcrypt (what the bridge calls; %.1f before the run, %.1f after), %.1f ms with PHP' % ($one * 1000, $one_before * 1000, $one_after * 1000, $one_php * 1000))
print('ideal on %d cores: %.1f logins/s' % ($cores, ideal))
print('bridge: %s logins/s = %.0f%% of ideal (target >= 90%%)' % ('$login_rate', 100 * $login_rate / ideal))
"
echo "health p99 while logging in: $health_p99 (target < 20ms)"
fi
if wants 4; then
echo
echo "== 4. Sign-in failures look alike (timing), and parallel guessing across two bridge processes"
# drjones is locked (counter past the limit, failure just now); drformer is inactive.
mariadb_sql "$INSTANCE" emr_bench -e "UPDATE users_secure SET login_fail_counter = 1000, last_login_fail = NOW() + INTERVAL 1 DAY WHERE username = 'drjones'"
python3 - "http://127.0.0.1:$HTTP_PORT/api/auth/login/" "${BENCH_SIGNIN_ROUNDS:-60}" <<'PY'
import sys, time, json, random, statistics, http.client, urllib.parse
url, rounds = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
kinds = {
    "wrong password": ("drsmith", "not-the-password"),
    "unknown user": ("nobody-%d", "doctor123"),
    "inactive user": ("drformer", "doctor123"),
    "locked account": ("drjones", "doctor123"),
}
times, answers = {k: [] for k in kinds}, {k: set() for k in kinds}
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
for i in range(rounds):
    order = list(kinds)
    random.shuffle(order)  # interleaved, so drift of the machine's speed hits every kind alike
    for kind in order:
        user, password = kinds[kind]
        body = json.dumps({"username": user % i if "%d" in user else user, "password": password})
        start = time.perf_counter()
        connection.request("POST", url.path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read()
        times[kind].append((time.perf_counter() - start) * 1000)
        answers[kind].add((response.status, text))
base = statistics.median(times["wrong password"])
for kind in kinds:
    median = statistics.median(times[kind])
    print("%-15s median %6.1f ms  (%+5.1f%% vs wrong password)  answers: %s" % (
        kind, median, 100 * (median - base) / base, sorted({status for status, _ in answers[kind]})))
bodies = set().union(*answers.values())
print("distinct (status, body) answers over all four kinds: %d (target 1)" % len(bodies))
PY
# Two processes, one database: 20 guesses to each at once for drpatel; count the hash checks from the audit log.
mariadb_sql "$INSTANCE" emr_bench -e "UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL WHERE username = 'drpatel'; DELETE FROM log WHERE event = 'login'"
BRIDGE_PORT=$((HTTP_PORT + 1)) "$BIN" serve >/tmp/emr-bridge-bench-2.log 2>&1 &
second_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$((HTTP_PORT + 1))/api/health/" >/dev/null && break; sleep 0.2; done
python3 - "$HTTP_PORT" "$((HTTP_PORT + 1))" <<'PY'
import sys, json, http.client, threading
ports, statuses = [int(p) for p in sys.argv[1:]], []
def guess(i):
    connection = http.client.HTTPConnection("127.0.0.1", ports[i % 2], timeout=60)
    connection.request("POST", "/api/auth/login/", json.dumps({"username": "drpatel", "password": "guess-%d" % i}), {"Content-Type": "application/json"})
    statuses.append(connection.getresponse().status)
threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
[t.start() for t in threads]
[t.join() for t in threads]
print("40 parallel wrong guesses over 2 processes: statuses %s" % {s: statuses.count(s) for s in set(statuses)})
PY
checks="$(mariadb_sql "$INSTANCE" emr_bench -N -B -e "SELECT COUNT(*) FROM log WHERE event = 'login' AND success = 0 AND FROM_BASE64(comments) LIKE 'failure:%'")"
counter="$(mariadb_sql "$INSTANCE" emr_bench -N -B -e "SELECT login_fail_counter FROM users_secure WHERE username = 'drpatel'")"
echo "hash checks: $checks (limit 3); users_secure.login_fail_counter: $counter (40 expected)"
mariadb_sql "$INSTANCE" emr_bench -e "UPDATE users_secure SET login_fail_counter = 0, last_login_fail = NULL"
fi
if wants 5; then
echo
echo "== 5. Transcriptions: create with 1,000 segments, read back, audio upload"
pid_enc="$(mariadb_sql "$INSTANCE" emr_bench -N -B -e "SELECT pid, encounter FROM form_encounter ORDER BY id LIMIT 1")"
BRIDGE_BENCH_PID="${pid_enc%%$'\t'*}" BRIDGE_BENCH_ENCOUNTER="${pid_enc##*$'\t'}" python3 - "$HTTP_PORT" "$token" <<'PY'
import http.client, json, os, statistics, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
pid, encounter = int(os.environ["BRIDGE_BENCH_PID"]), int(os.environ["BRIDGE_BENCH_ENCOUNTER"])
segments = [{"order": i, "start_ms": i * 3600, "end_ms": i * 3600 + 3400, "speaker": "provider" if i % 2 == 0 else "patient",
             "text": "Patient reports mild headache for three days, worse in the morning, number %d, no fever or nausea." % i,
             "confidence": 0.9} for i in range(1000)]
body = json.dumps({"pid": pid, "encounter": encounter, "language": "en", "segments": segments}).encode()
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def call(method, path, payload=None):
    start = time.perf_counter()
    connection.request(method, path, payload, headers)
    response = connection.getresponse()
    data = response.read()
    return time.perf_counter() - start, response.status, data
for _ in range(20):
    _, status, data = call("POST", "/api/transcriptions/", body)
    assert status == 201, (status, data[:300])
creates, ids = [], []
for _ in range(200):
    elapsed, status, data = call("POST", "/api/transcriptions/", body)
    assert status == 201, status
    creates.append(elapsed * 1000)
    ids.append(json.loads(data)["id"])
reads = []
for index in range(400):
    elapsed, status, _ = call("GET", "/api/transcriptions/%d/" % ids[index % len(ids)])
    assert status == 200
    reads.append(elapsed * 1000)
creates.sort(); reads.sort()
print("create, 1,000 segments (%d KB body): median %.1f ms, p90 %.1f ms, mean %.1f ms (target: median < 25 ms)" % (
    len(body) // 1024, statistics.median(creates), creates[int(len(creates) * 0.9)], statistics.mean(creates)))
print("read back with segments: median %.1f ms, p90 %.1f ms (target: median < 10 ms)" % (statistics.median(reads), reads[int(len(reads) * 0.9)]))
with open("/tmp/emr-bench-create-mean", "w") as f:
    f.write(str(statistics.mean(creates)))
# MariaDB itself: the same rows (the transcription row, then the segments as one multi-row INSERT, one transaction each)
# into tables shaped and indexed as the bridge's, through its own command-line client over TCP.
def quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
full_text = "\n".join(s["text"] for s in segments)
rows = ",".join("(@t,%d,%d,%d,%s,%s,%s)" % (s["order"], s["start_ms"], s["end_ms"], quote(s["speaker"]), quote(s["text"]), s["confidence"]) for s in segments)
with open("/tmp/emr-bench-transcriptions.sql", "w") as f:
    f.write("DROP TABLE IF EXISTS bench_segments; DROP TABLE IF EXISTS bench_transcriptions;\n")
    f.write("CREATE TABLE bench_transcriptions LIKE mmt_transcriptions; CREATE TABLE bench_segments LIKE mmt_transcription_segments;\n")
    for _ in range(200):
        f.write("START TRANSACTION;\n")
        f.write("INSERT INTO bench_transcriptions (pid, encounter, provider_id, language, status, full_text, segment_count, created_by, created_at, updated_at) "
                "VALUES (%d, %d, 2, 'en', 'draft', %s, 1000, 'drsmith', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));\n" % (pid, encounter, quote(full_text)))
        f.write("SET @t = LAST_INSERT_ID();\n")
        f.write("INSERT INTO bench_segments (transcription_id, seq, start_ms, end_ms, speaker, text, confidence) VALUES %s;\n" % rows)
        f.write("COMMIT;\n")
    f.write("DROP TABLE bench_segments; DROP TABLE bench_transcriptions;\n")
PY
start_ns="$(date +%s%N)"
mariadb --no-defaults -h 127.0.0.1 -P "$DB_PORT" -u bench -pbench-Secret-1 emr_bench </tmp/emr-bench-transcriptions.sql
end_ns="$(date +%s%N)"
python3 - "$start_ns" "$end_ns" <<'PY'
import sys
start, end = int(sys.argv[1]), int(sys.argv[2])
mariadb = (end - start) / 1e6 / 200
bridge = float(open("/tmp/emr-bench-create-mean").read())
print("mariadb client, same rows and indexes: mean %.1f ms per transcription; bridge mean / mariadb = %.2f (target <= 2)" % (mariadb, bridge / mariadb))
PY
# Audio: 200 MB streamed to BRIDGE_AUDIO_DIR; the server's resident memory sampled meanwhile.
audio_file="$(mktemp --suffix=.webm)"
dd if=/dev/urandom of="$audio_file" bs=1048576 count=200 status=none
tid="$(curl -sf -X POST "http://127.0.0.1:$HTTP_PORT/api/transcriptions/" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"pid\":${pid_enc%%$'\t'*},\"encounter\":${pid_enc##*$'\t'},\"segments\":[]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
rss_before="$(rss)"
( peak=0; while kill -0 "$server_pid" 2>/dev/null; do r="$(rss)"; [ "$r" -gt "$peak" ] && peak="$r" && echo "$peak" >/tmp/emr-bench-rss-peak; sleep 0.02; done ) &
sampler=$!
seconds="$(curl -s -o /dev/null -w '%{time_total}' -X PUT "http://127.0.0.1:$HTTP_PORT/api/transcriptions/$tid/audio/" \
    -H "Authorization: Bearer $token" -H 'Content-Type: audio/webm' --data-binary "@$audio_file")"
kill "$sampler" 2>/dev/null || true
rss_peak="$(cat /tmp/emr-bench-rss-peak 2>/dev/null || echo "$rss_before")"
python3 -c "print('audio upload 200 MiB: %.0f MB/s; server RSS growth %.1f MiB (targets: >= 200 MB/s, < 20 MiB)' % (200 * 1.048576 / $seconds, max(0, $rss_peak - $rss_before) / 1024))"
rm -f "$audio_file" /tmp/emr-bench-rss-peak /tmp/emr-bench-create-mean /tmp/emr-bench-transcriptions.sql
fi
if wants 6; then
echo
echo "== 6. Jitsi tokens per CPU-second (in process vs PyJWT), and 1,000 waiting event streams"
PYJWT_PYTHON="$(bash scripts/pyjwt-venv.sh)"
bridge_mint="$("$BIN" mint-token --bench "${BENCH_TOKENS:-200000}")"
pyjwt_mint="$("$PYJWT_PYTHON" scripts/pyjwt-check.py --bench "${BENCH_PYJWT_TOKENS:-20000}")"
echo "$bridge_mint"
echo "$pyjwt_mint"
printf '%s\n%s\n' "$bridge_mint" "$pyjwt_mint" | python3 -c '
import sys
v = dict(l.split() for l in sys.stdin if l.strip())
for alg in ("hs256", "rs256"):
    b, p = float(v[alg + "_per_cpu_second"]), float(v["pyjwt_" + alg + "_per_cpu_second"])
    print("%s: bridge %.0f vs PyJWT %.0f tokens/s per core = %.1fx%s" % (alg.upper(), b, p, b / p, " (target >= 10x)" if alg == "hs256" else ""))
'
mariadb_sql "$INSTANCE" emr_bench <<'SQL'
SET SESSION sql_mode = '';
DELETE FROM mmt_video_visits WHERE encounter = 990001;
DELETE FROM form_encounter WHERE encounter = 990001;
INSERT INTO form_encounter (date, reason, facility, facility_id, pid, encounter, provider_id, billing_facility, pc_catid, class_code)
VALUES (UTC_TIMESTAMP(), 'bench video', 'Riverside Family Medicine', 1, 1, 990001, 2, 1, 5, 'AMB');
DELETE FROM globals WHERE gl_name = 'gbl_time_zone';
INSERT INTO globals (gl_name, gl_index, gl_value) VALUES ('gbl_time_zone', 0, 'UTC');
SQL
patient_token="$(curl -sf -X POST "http://127.0.0.1:$HTTP_PORT/api/auth/patient-login/" -H 'Content-Type: application/json' -d '{"username":"patient1","password":"patient123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
# One bridge token per waiting patient (BENCH_STREAM_TOKENS, default: one per stream), as a clinic's waiting room has
# them: copies of patient1's token row under new random tokens, so the poller's token check covers that many tokens.
stream_tokens="$(mktemp)"
python3 - "${BENCH_STREAM_TOKENS:-${BENCH_STREAMS:-1000}}" "$patient_token" "$stream_tokens" <<'PY' | mariadb_sql "$INSTANCE" emr_bench
import secrets, sys
count, source, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tokens = [source] + [secrets.token_hex(32) for _ in range(count - 1)]
open(path, "w").write("\n".join(tokens) + "\n")
columns = "kind, user_id, pid, username, role, groupname, fname, lname, facility_id, source, credential_sha, session_id, session_tracker_uuid, created_at, expires_at, client_ip"
for token in tokens[1:]:
    print("INSERT INTO mmt_api_tokens (token_hash, %s) SELECT UNHEX(SHA2('%s', 256)), %s FROM mmt_api_tokens WHERE token_hash = UNHEX(SHA2('%s', 256));" % (columns, token, columns, source))
PY
sleep 16 # the globals cache (15 s) picks up gbl_time_zone
python3 - "$HTTP_PORT" "$server_pid" "$stream_tokens" "$token" "${BENCH_STREAMS:-1000}" "${BENCH_IDLE_SECONDS:-10}" "$DB_PORT" "$db_pid" <<'PY'
import asyncio, os, subprocess, sys, time, http.client
port, pid, token_file, provider, count, idle, db_port, db_pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), sys.argv[7], int(sys.argv[8])
patients = open(token_file).read().split()
hz = os.sysconf("SC_CLK_TCK")
def ticks(process=pid):
    fields = open("/proc/%d/stat" % process).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
def statements():
    out = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", db_port, "-u", "bench", "-pbench-Secret-1", "-N", "-B", "-e",
                          "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_execute', 'Questions')"], capture_output=True, text=True).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}
path = "/api/encounters/990001/video/events/"
seen_first, live_at = [0], []
async def stream(patient):
    reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
    writer.write(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n" % (path, patient)).encode())
    await writer.drain()
    text, first = b"", False
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            break
        text += chunk
        if not first and b'"state":"scheduled"' in text:
            first = True
            seen_first[0] += 1
        if b'"state":"live"' in text:
            live_at.append(time.perf_counter())
            break
    writer.close()
async def main():
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(stream(patients[i % len(patients)])))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.time() + 120
    while seen_first[0] < count and time.time() < deadline:
        await asyncio.sleep(0.05)
    print("%d of %d streams open and waiting, with %d distinct bridge tokens" % (seen_first[0], count, min(count, len(patients))))
    await asyncio.sleep(1)
    t0, d0, s0, w0 = ticks(), ticks(db_pid), statements(), time.time()
    await asyncio.sleep(idle)
    t1, d1, s1, w1 = ticks(), ticks(db_pid), statements(), time.time()
    seconds = w1 - w0
    print("idle-waiting: bridge CPU %.2f %% of one core (target < 5 %%), mariadbd %.2f %%; database %.1f prepared statements/s (Com_stmt_execute), %.1f questions/s" % (
        100.0 * (t1 - t0) / hz / seconds, 100.0 * (d1 - d0) / hz / seconds, (s1["Com_stmt_execute"] - s0["Com_stmt_execute"]) / seconds,
        (s1["Questions"] - s0["Questions"] - 1) / seconds))
    def start():
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        connection.request("POST", "/api/encounters/990001/video/start/", headers={"Authorization": "Bearer " + provider})
        return connection.getresponse().status
    status = await asyncio.get_running_loop().run_in_executor(None, start)
    returned = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    live_at.sort()
    print("start answered %d; %d streams heard \"live\": median %.0f ms, last %.0f ms after the start returned" % (
        status, len(live_at), 1000 * (live_at[len(live_at) // 2] - returned), 1000 * (live_at[-1] - returned)))
asyncio.run(main())
PY
fi
if wants 7; then
IMPORT_ROWS="${BENCH_IMPORT_ROWS:-1000000}"
IMPORT_JOBS="${BENCH_IMPORT_JOBS:-4}"
echo "== 7. encounter import: $IMPORT_ROWS rows, --jobs $IMPORT_JOBS, against LOAD DATA LOCAL INFILE of the same rows =="
work="$(mktemp -d)"
# The import's input, and the rows it writes (for LOAD DATA): uuid_registry, form_encounter, forms.
python3 - "$work" "$IMPORT_ROWS" <<'PY'
import os, sys, random
work, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
facilities = {1: ("Riverside Family Medicine", 11), 2: ("Lakeview Community Clinic", 11)}
providers = {"drsmith": 2, "drjones": 3}
with open(os.path.join(work, "visits.csv"), "w") as csv, open(os.path.join(work, "uuid_registry.tsv"), "w") as reg, \
        open(os.path.join(work, "form_encounter.tsv"), "w") as fe, open(os.path.join(work, "forms.tsv"), "w") as forms:
    csv.write("external_id,pid,date,reason,provider_username,facility_id,pc_catid,class_code\n")
    for i in range(n):
        pid = random.randint(1, 10000)
        date = "2025-%02d-%02d %02d:%02d:00" % (i % 12 + 1, i % 28 + 1, 8 + i % 10, i % 60)
        user = "drsmith" if i % 2 == 0 else "drjones"
        facility = 1 + i % 2
        reason = "Follow-up visit %d" % i
        csv.write("B%d,%d,%s,%s,%s,%d,5,AMB\n" % (i, pid, date, reason, user, facility))
        uuid = "%012x%s" % (i, os.urandom(10).hex())
        reg.write("%s\tform_encounter\tid\n" % uuid)
        fe.write("%s\t%s\t%s\t%s\t%d\t%d\t%d\t5\t%d\t%d\t11\tAMB\tnormal\tB%d\n" % (
            uuid, date, reason, facilities[facility][0], facility, pid, 1000 + i, providers[user], facility, i))
        forms.write("%s\t%d\t%d\t%d\tdrsmith\tDefault\n" % (date, 1000 + i, i + 1, pid))
PY
# A fresh copy of the OpenEMR tables the import needs, its encounter tables empty (as LOAD DATA's).
mariadb_sql "$INSTANCE" <<'SQL'
DROP DATABASE IF EXISTS emr_bench_import;
CREATE DATABASE emr_bench_import CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
GRANT ALL PRIVILEGES ON emr_bench_import.* TO 'bench'@'127.0.0.1';
DROP DATABASE IF EXISTS emr_bench_load;
CREATE DATABASE emr_bench_load CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
SQL
for table in users users_secure groups ip_tracking login_mfa_registrations patient_data patient_access_onsite facility form_encounter forms \
    sequences uuid_registry globals log log_comment_encrypt session_tracker gacl_aro gacl_aro_groups gacl_groups_aro_map; do
    mariadb_sql "$INSTANCE" -e "CREATE TABLE emr_bench_import.\`$table\` LIKE emr_bench.\`$table\`"
    case "$table" in
    form_encounter | forms | uuid_registry | log | log_comment_encrypt) ;;
    *) mariadb_sql "$INSTANCE" -e "INSERT INTO emr_bench_import.\`$table\` SELECT * FROM emr_bench.\`$table\`" ;;
    esac
done
for table in form_encounter forms uuid_registry; do
    mariadb_sql "$INSTANCE" -e "CREATE TABLE emr_bench_load.\`$table\` LIKE emr_bench.\`$table\`"
done
DB_NAME=emr_bench_import "$BIN" migrate >/dev/null
/usr/bin/time -f '%e %M %U %S' -o "$work/time" env DB_NAME=emr_bench_import "$BIN" import-encounters "$work/visits.csv" --source bench \
    --jobs "$IMPORT_JOBS" --batch-size 1000 --user drsmith --quiet 2>"$work/import.err" || true
cat "$work/import.err" >&2
read -r import_secs import_kb import_user import_sys <"$work/time"
imported="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT COUNT(*) FROM emr_bench_import.form_encounter")"
load_start="$(date +%s.%N)"
mariadb_sql "$INSTANCE" --local-infile=1 emr_bench_load <<SQL
LOAD DATA LOCAL INFILE '$work/uuid_registry.tsv' INTO TABLE uuid_registry (@u, table_name, table_id)
  SET uuid = UNHEX(@u), table_vertical = '', couchdb = '', document_drive = 0, mapped = 0, created = NOW();
LOAD DATA LOCAL INFILE '$work/form_encounter.tsv' INTO TABLE form_encounter
  (@u, date, reason, facility, facility_id, pid, encounter, pc_catid, provider_id, billing_facility, pos_code, class_code, sensitivity, external_id)
  SET uuid = UNHEX(@u);
LOAD DATA LOCAL INFILE '$work/forms.tsv' INTO TABLE forms (date, encounter, form_id, pid, user, groupname)
  SET form_name = 'New Patient Encounter', authorized = 1, deleted = 0, formdir = 'newpatient', therapy_group_id = NULL;
SQL
load_end="$(date +%s.%N)"
loaded="$(mariadb_sql "$INSTANCE" -N -B -e "SELECT COUNT(*) FROM emr_bench_load.form_encounter")"
python3 - "$IMPORT_ROWS" "$imported" "$import_secs" "$import_kb" "$loaded" "$load_start" "$load_end" "$import_user" "$import_sys" <<'PY'
import sys
rows, imported, secs, kb, loaded, start, end = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
load = end - start
cpu = float(sys.argv[8]) + float(sys.argv[9])
print("import-encounters: %d of %d rows in %.1f s = %.0f encounters/s (target >= 25,000), peak RSS %.1f MB (target < 100), its own CPU %.1f s" % (
    imported, rows, secs, imported / max(secs, 1e-9), kb / 1024, cpu))
print("LOAD DATA LOCAL INFILE, same rows, form_encounter + forms + uuid_registry: %d rows in %.1f s = %.0f rows/s" % (loaded, load, loaded / max(load, 1e-9)))
print("ratio import / LOAD DATA: %.2f (target <= 1.5)" % (secs / max(load, 1e-9)))
PY
mariadb_sql "$INSTANCE" -e "DROP DATABASE IF EXISTS emr_bench_import; DROP DATABASE IF EXISTS emr_bench_load"
rm -rf "$work"
fi
