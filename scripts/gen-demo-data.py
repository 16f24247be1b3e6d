#!/usr/bin/env python3
"""Generate the committed SQL files of EMRBridge.

    scripts/gen-demo-data.py            -> sql/demo/demo-data.sql   (deterministic demo data)
    scripts/gen-demo-data.py --fixture  -> sql/openemr/fixture.sql  (OpenEMR 8.2 tables + installer seeds)

Demo data is written the way OpenEMR itself writes these rows (see /work/shared/openemr/REFERENCE.md
sections 1, 2, 4 and 6). Everything comes from a seeded RNG, so reruns produce the same file. The only
non-deterministic part is bcrypt (PHP password_hash salts); existing hashes in the previous output are
reused when they still verify, so a rerun is byte-identical. Needs python3 and php-cli.

--fixture reads OpenEMR's files from ../shared/openemr (relative to the repo root) or $OPENEMR_SHARED_DIR.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_OUT = os.path.join(REPO, "sql", "demo", "demo-data.sql")
FIXTURE_OUT = os.path.join(REPO, "sql", "openemr", "fixture.sql")

SEED = 20261123
# "Now" of the demo world. last_update_password is set to this date (OpenEMR's default password expiry is
# 180 days + 30 days grace), encounters lie in the two years before it.
ANCHOR = dt.datetime(2026, 11, 20, 9, 0, 0)
N_PATIENTS = 200
N_ENCOUNTERS = 300

# --------------------------------------------------------------------------------------------------
# SQL helpers


def q(v) -> str:
    """SQL literal (MariaDB default sql_mode: backslash escapes active)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, bytes):
        return "0x" + v.hex().upper()
    if isinstance(v, dt.datetime):
        return "'" + v.strftime("%Y-%m-%d %H:%M:%S") + "'"
    if isinstance(v, dt.date):
        return "'" + v.strftime("%Y-%m-%d") + "'"
    s = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return "'" + s + "'"


def insert(table: str, cols: list[str] | None, rows: list, chunk: int = 50) -> str:
    if rows and isinstance(rows[0], dict):
        cols = list(rows[0].keys())
        rows = [[r[c] for c in cols] for r in rows]
    assert cols is not None
    for r in rows:
        assert len(r) == len(cols), (table, len(r), len(cols))
    out = []
    collist = ", ".join(f"`{c}`" for c in cols)
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        out.append(f"INSERT INTO `{table}` ({collist}) VALUES\n")
        out.append(",\n".join("(" + ", ".join(q(v) for v in r) + ")" for r in part))
        out.append(";\n")
    return "".join(out)


def uuid_str(b: bytes) -> str:
    h = b.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class UuidGen:
    """Ramsey timestamp-first COMB v4 as OpenEMR's UuidRegistry makes it (REFERENCE.md 4.7):
    bytes 0-5 = big-endian unix time in units of 10 microseconds, bytes 6-15 random with version 4
    and the RFC 4122 variant."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[bytes] = set()

    def make(self, when: dt.datetime) -> bytes:
        while True:
            ts = int(when.replace(tzinfo=dt.timezone.utc).timestamp()) * 100000 + self.rng.randrange(100000)
            rnd = bytearray(self.rng.getrandbits(8) for _ in range(10))
            rnd[0] = 0x40 | (rnd[0] & 0x0F)
            rnd[2] = 0x80 | (rnd[2] & 0x3F)
            b = ts.to_bytes(6, "big") + bytes(rnd)
            if b not in self.seen:
                self.seen.add(b)
                return b


# --------------------------------------------------------------------------------------------------
# bcrypt through PHP


PHP_HASHER = r"""
$in = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($in as $key => $item) {
    $old = $item['existing'] ?? null;
    if (is_string($old) && str_starts_with($old, '$2y$10$') && password_verify($item['password'], $old)) {
        $out[$key] = $old;
    } else {
        $out[$key] = password_hash($item['password'], PASSWORD_BCRYPT, ['cost' => 10]);
    }
    if (!password_verify($item['password'], $out[$key])) { fwrite(STDERR, "verify failed for $key\n"); exit(1); }
}
echo json_encode($out);
"""


def existing_hashes() -> dict[str, str]:
    """Hashes from the previous output, keyed like 'users_secure:admin' / 'portal:patient1'."""
    found: dict[str, str] = {}
    if not os.path.exists(DEMO_OUT):
        return found
    text = open(DEMO_OUT, encoding="utf-8").read()
    for m in re.finditer(r"^\(\d+, '([^']+)', '(\$2y\$10\$[./A-Za-z0-9]{53})', '\d{4}-", text, re.M):
        found["users_secure:" + m.group(1)] = m.group(2)
    for m in re.finditer(r"^\(\d+, \d+, '([^']+)', '(\$2y\$10\$[./A-Za-z0-9]{53})', 1, ", text, re.M):
        found["portal:" + m.group(1)] = m.group(2)
    return found


def bcrypt_all(wanted: dict[str, str]) -> dict[str, str]:
    prev = existing_hashes()
    payload = {k: {"password": pw, "existing": prev.get(k)} for k, pw in wanted.items()}
    res = subprocess.run(
        ["php", "-r", PHP_HASHER], input=json.dumps(payload), capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        sys.exit("php password_hash failed: " + res.stderr)
    return json.loads(res.stdout)


# --------------------------------------------------------------------------------------------------
# Demo world

FACILITIES = [
    # id, name, phone, fax, street, city, state, zip, ein, npi, color, primary_business_entity
    (1, "Riverside Family Medicine", "555-201-4400", "555-201-4401", "1200 Riverside Drive", "Springfield", "IL",
     "62704", "36-4412789", "1639281745", "#99FFFF", 1),
    (2, "Lakeview Community Clinic", "555-318-2200", "555-318-2201", "48 Lakeview Avenue", "Springfield", "IL",
     "62702", "36-4412790", "1548372910", "#FFECB4", 0),
]

# username, password, fname, lname, title, authorized, gacl group, active, calendar, facility id, npi, specialty
USERS = [
    ("admin", "pass", "Administrator", "Administrator", "", 1, "admin", 1, 1, 1, None, ""),
    ("drsmith", "doctor123", "Emily", "Smith", "Dr.", 1, "doc", 1, 1, 1, "1871623490", "Family Medicine"),
    ("drjones", "doctor123", "Marcus", "Jones", "Dr.", 1, "doc", 1, 1, 1, "1962745013", "Internal Medicine"),
    ("drpatel", "doctor123", "Priya", "Patel", "Dr.", 1, "doc", 1, 1, 2, "1093857264", "Pediatrics"),
    ("frontdesk", "front123", "Rosa", "Delgado", "", 0, "front", 1, 0, 1, None, ""),
    ("drformer", "doctor123", "Walter", "Brennan", "Dr.", 1, "doc", 0, 1, 2, "1750392846", "Family Medicine"),
]

# phpGACL ARO groups as OpenEMR's installer creates them (ids from gacl_aro_groups_id_seq = 9).
GACL_GROUP_IDS = {"users": 10, "admin": 11, "clin": 12, "doc": 13, "front": 14, "back": 15, "breakglass": 16}

FIRST_F = ["Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
           "Zoë", "Chloé", "Renée", "Inés", "María", "Siobhán", "Mei", "Aaliyah", "Fatima", "Hannah", "Grace",
           "Linh", "Thảo", "Ingrid", "Noémie", "Priyanka", "Keiko", "Dolores", "Margaret", "Ruth", "Lucía",
           "Björk", "Ana", "Jasmine", "Naomi", "Elena", "Yasmin", "Camila", "Nora", "Frances"]
FIRST_M = ["Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry", "Theodore",
           "José", "André", "François", "Jürgen", "Søren", "Mateo", "Diego", "Ahmed", "Omar", "Wei", "Minh",
           "Quang", "Raj", "Kwame", "Tomás", "Łukasz", "Pedro", "Samuel", "Arthur", "Frank", "George", "Jamal",
           "Darnell", "Ethan", "Ravi", "Hiroshi", "Nikolai", "Seán", "Emil", "Walter"]
LAST = ["Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernández",
        "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
        "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark", "Ramírez", "Lewis", "Robinson", "Walker",
        "Young", "Nguyễn", "Trần", "Lê", "O'Brien", "O'Connor", "D'Angelo", "Müller", "Schröder", "Kowalski",
        "Nowak", "Østergaard", "Björnsson", "Chen", "Wang", "Kim", "Park", "Singh", "Okafor", "Mensah",
        "Haddad", "Al-Sayed", "Cohen", "Rossi", "Esposito", "Dubois", "Lefèvre", "van der Berg", "MacDonald",
        "St. John", "Whitehorse"]
MIDDLE = ["", "", "", "A", "B", "C", "D", "E", "J", "L", "M", "R", "S", "Marie", "Lee", "Ann", "James"]
STREETS = ["Oak Street", "Maple Avenue", "Cedar Lane", "Pine Road", "Elm Street", "Washington Boulevard",
           "Lincoln Avenue", "Jefferson Street", "Sunset Drive", "Hillcrest Road", "Meadow Lane", "Park Place",
           "Church Street", "Mill Road", "Lakeshore Drive", "Chestnut Court", "Birch Way", "Willow Bend"]
CITIES = [("Springfield", "IL", "627"), ("Chatham", "IL", "626"), ("Rochester", "IL", "626"),
          ("Sherman", "IL", "626"), ("Decatur", "IL", "625"), ("Jacksonville", "IL", "626"),
          ("Lincoln", "IL", "626"), ("Taylorville", "IL", "625")]
STATUSES = ["married", "single", "single", "married", "divorced", "widowed", "domestic partner", ""]
REASONS = ["Annual physical examination", "Follow-up: hypertension", "Follow-up: type 2 diabetes",
           "Sore throat and fever", "Persistent cough", "Lower back pain", "Medication review",
           "Well-child visit", "Immunizations", "Headache, 3 days", "Knee pain after fall",
           "Rash on forearm", "Anxiety and trouble sleeping", "Abdominal pain", "Ear pain",
           "Follow-up: lab results", "Pre-operative evaluation", "Allergy symptoms", "Fatigue",
           "Chest tightness on exertion", "Urinary symptoms", "Smoking cessation counseling",
           "Sports physical", "Dizziness", "Follow-up: hyperlipidemia", "Cold symptoms"]
DOMAINS = ["example.com", "example.org", "example.net"]
# A few fixed names so searches for non-ASCII / quoted names always have something to find.
FIXED_NAMES = {6: (False, "José", "Nguyễn"), 7: (True, "Zoë", "O'Brien"), 8: (False, "François", "Lefèvre"),
               9: (True, "Siobhán", "Østergaard"), 10: (True, "Thảo", "Trần")}


def ascii_slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L"))
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "", s.lower())


def phone(rng: random.Random) -> str:
    return f"555-{rng.randrange(200, 999):03d}-{rng.randrange(0, 10000):04d}"


def gen_demo() -> str:
    rng = random.Random(SEED)
    uuids = UuidGen(random.Random(SEED + 1))
    out: list[str] = []
    w = out.append

    w("-- EMRBridge demo data for an OpenEMR 8.2 schema (load sql/openemr/fixture.sql first).\n")
    w("-- GENERATED by scripts/gen-demo-data.py (seeded RNG, seed %d) -- do not edit by hand.\n" % SEED)
    w("-- Rows are written the way OpenEMR writes them: users + users_secure + groups + phpGACL membership,\n")
    w("-- patient_data with registered timestamp-first COMB uuids, form_encounter + forms(newpatient),\n")
    w("-- encounter numbers taken from `sequences`.\n")
    w("-- Demo logins (core UI): admin/pass, drsmith|drjones|drpatel/doctor123, frontdesk/front123,\n")
    w("--   drformer/doctor123 (inactive, cannot log in). Portal: patient1..patient3/patient123.\n\n")
    w("SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSTART TRANSACTION;\n\n")

    registry_rows: list[list] = []

    def register(b: bytes, table: str, when: dt.datetime, table_id: str = "id") -> None:
        registry_rows.append([b, table, table_id, "", "", 0, 0, when])

    # ---- facilities
    fac_rows = []
    fac_created = ANCHOR - dt.timedelta(days=800)
    for fid, name, ph, fax, street, city, state, zipc, ein, npi, color, pbe in FACILITIES:
        u = uuids.make(fac_created + dt.timedelta(minutes=fid))
        register(u, "facility", fac_created + dt.timedelta(minutes=fid))
        fac_rows.append({
            "id": fid, "uuid": u, "name": name, "phone": ph, "fax": fax, "street": street, "city": city,
            "state": state, "postal_code": zipc, "country_code": "USA", "federal_ein": ein, "website": "",
            "email": "", "service_location": 1, "billing_location": 1, "accepts_assignment": 1, "pos_code": 11,
            "x12_sender_id": "", "attn": "", "domain_identifier": "", "facility_npi": npi,
            "facility_taxonomy": "207Q00000X", "tax_id_type": "EI", "color": color,
            "primary_business_entity": pbe, "facility_code": "", "extra_validation": 1, "oid": "",
            "inactive": 0, "date_created": fac_created, "last_updated": fac_created, "organization_type": "prov",
        })
    w("-- facilities (pos_code 11 = office)\n")
    w(insert("facility", None, fac_rows))
    fac_name = {f[0]: f[1] for f in FACILITIES}

    # ---- users
    hashes_wanted = {f"users_secure:{u[0]}": u[1] for u in USERS}
    hashes_wanted.update({f"portal:patient{i}": "patient123" for i in (1, 2, 3)})
    hashes = bcrypt_all(hashes_wanted)

    user_rows, secure_rows, group_rows, aro_rows, aro_map_rows, uf_rows = [], [], [], [], [], []
    user_id = {}
    for idx, (uname, _pw, fname, lname, title, authorized, ggroup, active, cal, fid, npi, spec) in enumerate(USERS):
        uid = idx + 1
        user_id[uname] = uid
        created = ANCHOR - dt.timedelta(days=790 - idx * 3, hours=-idx)
        u = uuids.make(created)
        register(u, "users", created)
        user_rows.append({
            "id": uid, "uuid": u, "username": uname, "password": "NoLongerUsed", "authorized": authorized,
            "info": "", "source": None, "fname": fname, "mname": "", "lname": lname, "suffix": "",
            "federaltaxid": "", "federaldrugid": "", "upin": "", "facility": fac_name[fid], "facility_id": fid,
            "see_auth": 1, "active": active, "npi": npi or "", "title": title, "specialty": spec, "billname": "",
            "email": "", "email_direct": "", "google_signin_email": None, "url": "", "assistant": "",
            "organization": "", "valedictory": "", "street": "", "streetb": "", "city": "", "state": "",
            "zip": "", "phone": "", "fax": "", "phonew1": "", "phonew2": "", "phonecell": "", "notes": "",
            "cal_ui": 3 if uname == "admin" else 1, "taxonomy": "207Q00000X", "calendar": cal,
            "abook_type": "", "default_warehouse": "", "irnpool": "", "state_license_number": "",
            "weno_prov_id": "", "newcrop_user_role": "", "cpoe": None, "physician_type": "",
            "main_menu_role": "standard", "patient_menu_role": "standard", "portal_user": 0,
            "supervisor_id": 0, "billing_facility": fac_name[fid], "billing_facility_id": fid,
            "date_created": created, "last_updated": created,
        })
        # last_update_password: a fixed recent date so the demo logins are not expired (180 d + 30 d grace).
        secure_rows.append([uid, uname, hashes[f"users_secure:{uname}"], ANCHOR - dt.timedelta(days=idx),
                            ANCHOR - dt.timedelta(days=idx), None, None, None, None, None, None, 0, 0, None, 0])
        group_rows.append([uid, "Default", uname])
        aro_id = 10 + idx  # gacl_aro_seq starts at 9
        aro_rows.append([aro_id, "users", uname, 10, "Administrator" if uname == "admin" else f"{fname} {lname}", 0])
        aro_map_rows.append([GACL_GROUP_IDS[ggroup], aro_id])
        uf_rows.append(["users", uid, fid, ""])

    w("\n-- users (users.password is the legacy column; OpenEMR writes the literal NoLongerUsed)\n")
    w(insert("users", None, user_rows))
    w("\n-- users_secure (id = users.id; bcrypt $2y$10$ from PHP password_hash)\n")
    w(insert("users_secure", ["id", "username", "password", "last_update_password", "last_update",
                              "password_history1", "password_history2", "password_history3",
                              "password_history4", "last_challenge_response", "login_work_area",
                              "total_login_fail_counter", "login_fail_counter", "last_login_fail",
                              "auto_block_emailed"], secure_rows))
    w("\n-- groups (authProvider / groupname)\n")
    w(insert("groups", ["id", "name", "user"], group_rows))
    w("\n-- phpGACL: one ARO per user, mapped to its ARO group\n")
    w(insert("gacl_aro", ["id", "section_value", "value", "order_value", "name", "hidden"], aro_rows))
    w(insert("gacl_groups_aro_map", ["group_id", "aro_id"], aro_map_rows))
    w(insert("users_facility", ["tablename", "table_id", "facility_id", "warehouse_id"], uf_rows))

    # ---- patients
    providers = ["drsmith", "drjones", "drpatel", "drformer"]
    pat_rows = []
    patients = []
    for pid in range(1, N_PATIENTS + 1):
        female = rng.random() < 0.52
        fname = rng.choice(FIRST_F if female else FIRST_M)
        lname = rng.choice(LAST)
        mname = rng.choice(MIDDLE)
        if pid in FIXED_NAMES:
            female, fname, lname = FIXED_NAMES[pid]
        age_days = rng.randrange(365, 95 * 365)
        dob = (ANCHOR - dt.timedelta(days=age_days)).date()
        city, state, zip3 = rng.choice(CITIES)
        street = f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}"
        postal = f"{zip3}{rng.randrange(0, 100):02d}"
        prov = rng.choices(providers, weights=[40, 30, 22, 8])[0]
        # Registration order follows pid.
        regdate = ANCHOR - dt.timedelta(days=800) + dt.timedelta(days=pid * 3 // 4, seconds=rng.randrange(8 * 3600, 17 * 3600))
        created_by = user_id[rng.choice(["frontdesk", "frontdesk", "frontdesk", "admin"])]
        email = f"{ascii_slug(fname)}.{ascii_slug(lname)}{pid}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.08 and pid > 5:
            email = ""
        u = uuids.make(regdate)
        register(u, "patient_data", regdate)
        status = rng.choice(STATUSES) if age_days > 18 * 365 else ""
        portal = "YES" if pid <= 5 else ""
        patients.append({"pid": pid, "provider": prov, "regdate": regdate})
        pat_rows.append({
            "id": pid, "uuid": u, "title": ("Ms." if female else "Mr.") if age_days > 18 * 365 else "",
            "language": "english", "financial": "", "fname": fname, "lname": lname, "mname": mname, "DOB": dob,
            "street": street, "postal_code": postal, "city": city, "state": state, "country_code": "USA",
            "phone_home": phone(rng), "phone_cell": phone(rng), "status": status, "date": regdate,
            "sex": "Female" if female else "Male", "providerID": user_id[prov], "email": email,
            "pubpid": str(pid), "pid": pid, "hipaa_mail": "YES", "hipaa_voice": "YES", "hipaa_notice": "YES",
            "hipaa_message": "", "hipaa_allowsms": "NO", "hipaa_allowemail": "NO", "regdate": regdate,
            "allow_health_info_ex": "YES" if rng.random() < 0.7 else "NO", "allow_patient_portal": portal,
            "created_by": created_by, "updated_by": created_by, "last_updated": regdate,
        })
    w("\n-- patients (pid = logical id, pubpid = pid)\n")
    w(insert("patient_data", None, pat_rows))

    # ---- portal credentials for patients 1..3
    portal_rows = []
    for i in (1, 2, 3):
        portal_rows.append([i, i, f"patient{i}", hashes[f"portal:patient{i}"], 1, f"patient{i}", None,
                            patients[i - 1]["regdate"] + dt.timedelta(days=1)])
    w("\n-- patient portal credentials (portal_pwd_status 1 = set by the patient)\n")
    w(insert("patient_access_onsite", ["id", "pid", "portal_username", "portal_pwd", "portal_pwd_status",
                                       "portal_login_username", "portal_onetime", "date_created"], portal_rows,
             chunk=1))

    # ---- encounters
    enc_specs = []
    guaranteed = [1, 1, 2, 2, 3, 4, 5]
    for k in range(N_ENCOUNTERS):
        p = patients[guaranteed[k] - 1] if k < len(guaranteed) else rng.choice(patients)
        start = max(p["regdate"], ANCHOR - dt.timedelta(days=730))
        span = (ANCHOR - start).days
        day = start.date() + dt.timedelta(days=rng.randrange(0, max(span, 1)))
        when = dt.datetime.combine(day, dt.time(rng.randrange(8, 17), rng.choice([0, 15, 30, 45])))
        enc_specs.append((when, p))
    enc_specs.sort(key=lambda e: (e[0], e[1]["pid"]))

    fe_rows, form_rows = [], []
    seen_pid = set()
    drformer_end = ANCHOR - dt.timedelta(days=200)
    for n, (when, p) in enumerate(enc_specs, start=1):
        prov = p["provider"]
        if prov == "drformer" and when > drformer_end:
            prov = "drsmith"  # drformer left the practice
        fid = USERS[user_id[prov] - 1][9]
        if p["pid"] not in seen_pid:
            catid = 10
            seen_pid.add(p["pid"])
        else:
            catid = rng.choice([9, 9, 5])
        u = uuids.make(when)
        register(u, "form_encounter", when)
        fe_rows.append([n, u, when, rng.choice(REASONS), fac_name[fid], fid, p["pid"], n, "normal", catid,
                        user_id[prov], fid, 11, "AMB", when])
        form_rows.append([n, when, n, "New Patient Encounter", n, p["pid"], prov, "Default", 1, 0, "newpatient",
                          None, 0, 0])
    w("\n-- encounters (encounter numbers from `sequences`; forms.form_id = form_encounter.id)\n")
    w(insert("form_encounter", ["id", "uuid", "date", "reason", "facility", "facility_id", "pid", "encounter",
                                "sensitivity", "pc_catid", "provider_id", "billing_facility", "pos_code",
                                "class_code", "last_update"], fe_rows))
    w(insert("forms", ["id", "date", "encounter", "form_name", "form_id", "pid", "user", "groupname",
                       "authorized", "deleted", "formdir", "therapy_group_id", "issue_id", "provider_id"],
             form_rows))
    w("UPDATE `sequences` SET `id` = %d;\n" % N_ENCOUNTERS)

    w("\n-- uuid registry (UuidRegistry::createUuid registers every uuid)\n")
    w(insert("uuid_registry", ["uuid", "table_name", "table_id", "table_vertical", "couchdb", "document_drive",
                               "mapped", "created"], registry_rows))

    w("\n-- globals: missing rows mean defaults; only the time zone is pinned for the demo\n")
    w("INSERT INTO `globals` (`gl_name`, `gl_index`, `gl_value`) VALUES ('gbl_time_zone', 0, 'UTC')\n"
      "  ON DUPLICATE KEY UPDATE `gl_value` = VALUES(`gl_value`);\n")
    w("\nCOMMIT;\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Fixture


# Copied from database.sql in addition to core-tables.sql: OpenEMR clinical tables keyed by patient that a
# patient delete must find empty (see PatientDeletion.recordTables in Sources/App).
PATIENT_RECORD_TABLES = ["lists", "prescriptions", "billing", "documents", "pnotes", "immunizations", "insurance_data", "history_data"]


def gen_fixture(shared: str) -> str:
    core = open(os.path.join(shared, "core-tables.sql"), encoding="utf-8").read()
    db = open(os.path.join(shared, "database.sql"), encoding="utf-8").read()
    m = re.search(r"v_database:\s*(\d+)", db)
    vdb = m.group(1) if m else "?"

    out: list[str] = []
    w = out.append
    w("-- OpenEMR tables used by EMRBridge, so the project can run without an OpenEMR install.\n")
    w("--\n")
    w("-- Source: OpenEMR 8.2.0-dev sql/database.sql (v_database %s; import commit\n" % vdb)
    w("--   ef3d4909fadab9b3280452d08a1aa746e3fa7502 of GiantBeaver9/openemr-base-clean). Every CREATE TABLE\n")
    w("--   below is copied verbatim from that file (same columns, types, keys, engine; no explicit charset,\n")
    w("--   so tables take the database default: create the database as utf8mb4 / utf8mb4_general_ci\n")
    w("--   like OpenEMR's installer does).\n")
    w("-- Re-runnable: each table is dropped first (DROP TABLE IF EXISTS), as in database.sql itself.\n")
    w("-- Seeds: the rows OpenEMR's installer writes for these tables:\n")
    w("--   sequences (1), openemr_postcalendar_categories, registry, list_options of the lists\n")
    w("--   _ActEncounterCode, Clinical_Note_Type, sex and titles -- verbatim from database.sql;\n")
    w("--   gacl_aro_groups + the Administrators ACL for admin/super -- not in database.sql: the installer\n")
    w("--   creates them through the phpGACL API (acl_setup), reproduced here with the ids phpGACL assigns.\n")
    w("-- Not included: the facility placeholder row 3 (the demo data brings its own facilities) and\n")
    w("--   globals (database.sql seeds none; a missing row means the library/globals.inc.php default).\n")
    w("-- GENERATED by scripts/gen-demo-data.py --fixture.\n\n")
    w("SET NAMES utf8mb4;\n\n")

    for cm in re.finditer(r"CREATE TABLE `(\w+)`\s*\(.*?\n\)[^;]*;", core, re.S):
        name, stmt = cm.group(1), cm.group(0)
        if stmt not in db:
            sys.exit(f"CREATE TABLE {name} differs from database.sql")
        w(f"-- table: {name}\nDROP TABLE IF EXISTS `{name}`;\n{stmt}\n\n")

    # Clinical tables the service never writes, but checks before a patient delete (ClinicalController):
    # a patient with rows in them is refused (409 patient_has_records).
    for name in PATIENT_RECORD_TABLES:
        cm = re.search(r"CREATE TABLE `%s`\s*\(.*?\n\)[^;]*;" % name, db, re.S)
        if not cm:
            sys.exit(f"CREATE TABLE {name} not found in database.sql")
        w(f"-- table: {name} (patient delete refusal check)\nDROP TABLE IF EXISTS `{name}`;\n{cm.group(0)}\n\n")

    w("-- ------------------------------------------------------------------------------------------------\n")
    w("-- Seed rows\n\n")
    lines = db.splitlines()

    def pick(pred) -> list[str]:
        return [ln for ln in lines if pred(ln)]

    seq = pick(lambda ln: ln.startswith("INSERT INTO `sequences`"))
    assert seq == ["INSERT INTO `sequences` VALUES (1);"], seq
    w("-- sequences\n" + "\n".join(seq) + "\n\n")

    # postcalendar categories: statement spans the INSERT line + VALUES line
    cats = re.findall(r"^INSERT INTO `openemr_postcalendar_categories`.*?;$", db, re.S | re.M)
    assert len(cats) >= 10, len(cats)
    w("-- openemr_postcalendar_categories\n" + "\n".join(cats) + "\n\n")

    reg = pick(lambda ln: ln.startswith("INSERT INTO `registry` VALUES"))
    w("-- registry (encounter form types)\n" + "\n".join(reg) + "\n\n")

    lo = []
    for ln in lines:
        if not re.match(r"INSERT INTO `?list_options`?", ln):
            continue
        if re.search(r"VALUES\s*\(\s*'lists'\s*,\s*'(_ActEncounterCode|Clinical_Note_Type|sex|titles)'", ln) or re.search(
            r"VALUES\s*\(\s*'(_ActEncounterCode|Clinical_Note_Type|sex|titles)'", ln
        ):
            lo.append(ln)
    assert len(lo) >= 20, len(lo)
    w("-- list_options: _ActEncounterCode, Clinical_Note_Type, sex, titles\n" + "\n".join(lo) + "\n\n")

    w("-- phpGACL ARO groups (installer: add_group users/admin/clin/doc/front/back/breakglass;\n")
    w("-- ids from gacl_aro_groups_id_seq = 9, nested-set lft/rgt as phpGACL computes them)\n")
    w("INSERT INTO `gacl_aro_groups` (`id`, `parent_id`, `lft`, `rgt`, `name`, `value`) VALUES\n")
    groups = [("admin", "Administrators"), ("clin", "Clinicians"), ("doc", "Physicians"),
              ("front", "Front Office"), ("back", "Accounting"), ("breakglass", "Emergency Login")]
    rows = [f"(10, 0, 1, {2 + 2 * len(groups)}, 'OpenEMR Users', 'users')"]
    for i, (val, name) in enumerate(groups):
        rows.append(f"({11 + i}, 10, {2 + 2 * i}, {3 + 2 * i}, '{name}', '{val}')")
    w(",\n".join(rows) + ";\n\n")
    w("-- Subset of the installer's first ACL (id 10, 'Administrators can do anything'): only the\n")
    w("-- admin/super ACO that AclMain::aclCheckCore('admin','super') looks up.\n")
    w("INSERT INTO `gacl_acl` (`id`, `section_value`, `allow`, `enabled`, `return_value`, `note`, `updated_date`) VALUES\n")
    w("(10, 'system', 1, 1, 'write', 'Administrators can do anything', 1782864000);\n")
    w("INSERT INTO `gacl_aro_groups_map` (`acl_id`, `group_id`) VALUES (10, 11);\n")
    w("INSERT INTO `gacl_aco_map` (`acl_id`, `section_value`, `value`) VALUES (10, 'admin', 'super');\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", action="store_true", help="regenerate sql/openemr/fixture.sql instead")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    args = ap.parse_args()
    if args.fixture:
        shared = os.environ.get("OPENEMR_SHARED_DIR", os.path.join(os.path.dirname(REPO), "shared", "openemr"))
        text, dest = gen_fixture(shared), FIXTURE_OUT
    else:
        text, dest = gen_demo(), DEMO_OUT
    if args.stdout:
        sys.stdout.write(text)
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(dest, REPO)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
