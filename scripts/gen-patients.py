#!/usr/bin/env python3
"""Generate many realistic patients for patient_data (search benchmarks and the search equivalence test).

    scripts/gen-patients.py --count 1000000 --first-pid 1000 --seed 7 --format tsv  > patients.tsv
    scripts/gen-patients.py --count 20000 --format sql --batch 1000                   > patients.sql

Names follow US census-like frequencies (a few surnames such as Smith or Johnson are common, most are rare),
with Hispanic, European and Asian names, accents (José, Zoë, Müller, Núñez) and multi-word surnames
("de la Cruz", "Van Buren"); phones in the formats OpenEMR users type ("(617) 555-0142", "617-555-0142",
"6175550142", "+1 617 555 0142"); e-mails from the names; pubpids either the pid (OpenEMR's default) or a
clinic MRN; birth dates 1925..2025; sex from OpenEMR's `sex` list. Deterministic for a seed.

tsv: one row per patient, columns in TSV_COLUMNS order, uuid as 32 hex digits (LOAD DATA ... SET uuid = UNHEX(@u)).
sql: INSERT statements of --batch rows each, one per line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys

SURNAMES = [
    ("Smith", 828), ("Johnson", 655), ("Williams", 550), ("Brown", 487), ("Jones", 483), ("Garcia", 388),
    ("Miller", 385), ("Davis", 364), ("Rodriguez", 300), ("Martinez", 300), ("Hernandez", 280), ("Lopez", 250),
    ("Gonzalez", 240), ("Wilson", 230), ("Anderson", 230), ("Thomas", 225), ("Taylor", 220), ("Moore", 205),
    ("Jackson", 200), ("Martin", 200), ("Lee", 190), ("Perez", 180), ("Thompson", 180), ("White", 175),
    ("Harris", 170), ("Sanchez", 165), ("Clark", 155), ("Ramirez", 150), ("Lewis", 145), ("Robinson", 145),
    ("Walker", 140), ("Young", 135), ("Allen", 135), ("King", 130), ("Wright", 130), ("Scott", 125),
    ("Torres", 125), ("Nguyen", 125), ("Hill", 120), ("Flores", 120), ("Green", 120), ("Adams", 115),
    ("Nelson", 115), ("Baker", 115), ("Hall", 110), ("Rivera", 110), ("Campbell", 105), ("Mitchell", 105),
    ("Carter", 100), ("Roberts", 100), ("Gómez", 60), ("Phillips", 90), ("Evans", 90), ("Turner", 90),
    ("Díaz", 60), ("Parker", 85), ("Cruz", 80), ("Edwards", 80), ("Collins", 80), ("Reyes", 80), ("Stewart", 75),
    ("Morris", 75), ("Morales", 75), ("Murphy", 75), ("Cook", 75), ("Rogers", 70), ("Gutiérrez", 50),
    ("Ortiz", 70), ("Morgan", 70), ("Cooper", 70), ("Peterson", 70), ("Bailey", 68), ("Reed", 68),
    ("Kelly", 66), ("Howard", 66), ("Ramos", 65), ("Kim", 65), ("Cox", 64), ("Ward", 64), ("Richardson", 62),
    ("Watson", 62), ("Brooks", 60), ("Chávez", 40), ("Wood", 60), ("James", 60), ("Bennett", 58), ("Gray", 58),
    ("Mendoza", 58), ("Ruiz", 56), ("Hughes", 56), ("Price", 55), ("Alvarez", 55), ("Castillo", 55),
    ("Sanders", 54), ("Patel", 54), ("Myers", 52), ("Long", 52), ("Ross", 52), ("Foster", 52), ("Jiménez", 40),
    ("Müller", 20), ("Schmidt", 20), ("Schneider", 15), ("Fischer", 15), ("Weber", 15), ("Núñez", 20),
    ("de la Cruz", 20), ("Van Buren", 8), ("O'Brien", 25), ("O'Connor", 22), ("McDonald", 30), ("MacLeod", 8),
    ("Nakamura", 10), ("Tanaka", 10), ("Wang", 40), ("Li", 40), ("Zhang", 35), ("Chen", 45), ("Liu", 30),
    ("Singh", 40), ("Kumar", 30), ("Shah", 20), ("Ali", 25), ("Khan", 30), ("Ahmed", 25), ("Okafor", 8),
    ("Adeyemi", 6), ("Kowalski", 10), ("Nowak", 10), ("Novák", 6), ("Dubois", 8), ("Lefèvre", 5),
    ("Rossi", 10), ("Russo", 10), ("Bianchi", 6), ("Søren", 3), ("Ødegård", 3), ("Åberg", 3), ("Çelik", 4),
    ("Yılmaz", 5), ("Ivanov", 8), ("Petrov", 6), ("Popescu", 5), ("Horváth", 4), ("Papadopoulos", 4),
    ("Johansson", 8), ("Andersson", 8), ("Larsen", 6), ("Jensen", 8), ("Hansen", 8), ("Berg", 6),
    ("Quintero", 6), ("Zúñiga", 5), ("Ibáñez", 5), ("Peña", 12), ("Muñoz", 20), ("Castañeda", 8),
    ("Underwood", 10), ("Vaughn", 10), ("Xiong", 6), ("Yates", 8), ("Zimmerman", 12), ("Quinn", 12),
]
FIRST_F = [
    ("Mary", 300), ("Patricia", 200), ("Jennifer", 190), ("Linda", 180), ("Elizabeth", 170), ("Barbara", 160),
    ("Susan", 150), ("Jessica", 140), ("Sarah", 140), ("Karen", 130), ("Nancy", 110), ("Lisa", 110),
    ("Betty", 100), ("Margaret", 100), ("Sandra", 95), ("Ashley", 95), ("Emily", 90), ("Donna", 85),
    ("Michelle", 85), ("Dorothy", 80), ("Carol", 80), ("Amanda", 80), ("Melissa", 75), ("Deborah", 75),
    ("Stephanie", 70), ("Rebecca", 70), ("Laura", 70), ("Sharon", 65), ("Cynthia", 65), ("Kathleen", 65),
    ("Amy", 60), ("Angela", 60), ("Anna", 60), ("Joan", 40), ("Joanne", 25), ("Josephine", 20), ("Joy", 20),
    ("Julia", 40), ("Judith", 40), ("Maria", 90), ("María", 40), ("Sofía", 25), ("Lucía", 20), ("Zoë", 15),
    ("Chloé", 10), ("Renée", 10), ("Inés", 8), ("Mei", 10), ("Yuki", 8), ("Priya", 15), ("Aisha", 12),
    ("Fatima", 12), ("Ngozi", 5), ("Olga", 8), ("Ingrid", 6), ("Astrid", 5), ("Björk", 2), ("Siobhán", 4),
]
FIRST_M = [
    ("James", 330), ("John", 320), ("Robert", 310), ("Michael", 300), ("William", 250), ("David", 250),
    ("Richard", 180), ("Joseph", 170), ("Thomas", 160), ("Charles", 160), ("Christopher", 150),
    ("Daniel", 140), ("Matthew", 130), ("Anthony", 120), ("Mark", 110), ("Donald", 110), ("Steven", 100),
    ("Paul", 100), ("Andrew", 95), ("Joshua", 95), ("Kenneth", 90), ("Kevin", 90), ("Brian", 85),
    ("George", 85), ("Edward", 80), ("Ronald", 75), ("Timothy", 75), ("Jason", 75), ("Jeffrey", 70),
    ("Ryan", 70), ("Jacob", 70), ("Gary", 65), ("Nicholas", 65), ("Eric", 60), ("Jonathan", 60),
    ("Jose", 60), ("José", 50), ("Juan", 50), ("Jorge", 30), ("Luis", 40), ("Carlos", 40), ("Jesús", 20),
    ("Joel", 25), ("Jon", 15), ("Johnny", 20), ("Ángel", 10), ("François", 5), ("Jürgen", 4), ("Søren", 3),
    ("Wei", 15), ("Hiroshi", 6), ("Raj", 12), ("Arjun", 10), ("Mohammed", 20), ("Omar", 12), ("Chidi", 4),
    ("Ivan", 10), ("Lars", 6), ("Sean", 20), ("Seán", 5), ("Liam", 25), ("Noah", 25), ("Zachary", 10),
]
AREA_CODES = ["617", "212", "415", "312", "713", "305", "206", "303", "404", "503", "602", "702", "801",
              "919", "615", "512", "214", "858", "646", "718", "347", "929", "510", "408", "971", "207"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
           "comcast.net", "example.org"]
SEXES = [("Female", 50), ("Male", 48), ("UNK", 2)]

TSV_COLUMNS = ["pid", "pubpid", "uuid", "fname", "mname", "lname", "DOB", "sex", "email", "phone_home",
               "phone_cell", "street", "city", "state", "postal_code", "country_code", "status", "providerID",
               "date", "regdate"]


def weighted(pairs):
    names = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    cumulative = []
    total = 0
    for w in weights:
        total += w
        cumulative.append(total)
    return names, cumulative


def ascii_fold(text: str) -> str:
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def phone(rng: random.Random) -> str:
    area = rng.choice(AREA_CODES)
    exchange = rng.randint(200, 999)
    line = rng.randint(0, 9999)
    style = rng.random()
    if style < 0.4:
        return "(%s) %03d-%04d" % (area, exchange, line)
    if style < 0.75:
        return "%s-%03d-%04d" % (area, exchange, line)
    if style < 0.92:
        return "%s%03d%04d" % (area, exchange, line)
    return "+1 %s %03d %04d" % (area, exchange, line)


def patients(count: int, first_pid: int, seed: int):
    rng = random.Random(seed)
    surnames, s_cum = weighted(SURNAMES)
    females, f_cum = weighted(FIRST_F)
    males, m_cum = weighted(FIRST_M)
    sexes, x_cum = weighted(SEXES)
    start = dt.date(1925, 1, 1).toordinal()
    end = dt.date(2025, 12, 31).toordinal()
    created0 = dt.datetime(2010, 1, 1).timestamp()
    created1 = dt.datetime(2026, 11, 30).timestamp()
    for i in range(count):
        pid = first_pid + i
        sex = rng.choices(sexes, cum_weights=x_cum)[0]
        pool, cum = (females, f_cum) if sex == "Female" or (sex == "UNK" and rng.random() < 0.5) else (males, m_cum)
        fname = rng.choices(pool, cum_weights=cum)[0]
        mname = rng.choices(pool, cum_weights=cum)[0] if rng.random() < 0.3 else (rng.choice("ABCDEFGHJKLMNPRSTW") if rng.random() < 0.3 else "")
        lname = rng.choices(surnames, cum_weights=s_cum)[0]
        if rng.random() < 0.04:
            lname = lname + "-" + rng.choices(surnames, cum_weights=s_cum)[0]
        dob = dt.date.fromordinal(rng.randint(start, end))
        pubpid = str(pid) if rng.random() < 0.7 else "MRN%07d" % rng.randint(0, 9_999_999)
        email = ""
        if rng.random() < 0.7:
            local = ascii_fold(fname).lower() + rng.choice([".", "_", ""]) + ascii_fold(lname).lower().replace(" ", "").replace("'", "")
            if rng.random() < 0.6:
                local += str(rng.randint(1, 999))
            email = local + "@" + rng.choice(DOMAINS)
        phone_home = phone(rng) if rng.random() < 0.8 else ""
        phone_cell = phone(rng) if rng.random() < 0.6 else ""
        created = dt.datetime.fromtimestamp(rng.uniform(created0, created1)).replace(microsecond=0)
        uuid = "%032x" % rng.getrandbits(128)
        yield {
            "pid": pid, "pubpid": pubpid, "uuid": uuid, "fname": fname, "mname": mname, "lname": lname,
            "DOB": dob.isoformat(), "sex": sex, "email": email, "phone_home": phone_home, "phone_cell": phone_cell,
            "street": "%d %s St" % (rng.randint(1, 9999), rng.choice(surnames)), "city": "Springfield",
            "state": "MA", "postal_code": "%05d" % rng.randint(1000, 99999), "country_code": "USA",
            "status": "", "providerID": 0, "date": created.strftime("%Y-%m-%d %H:%M:%S"),
            "regdate": created.strftime("%Y-%m-%d %H:%M:%S"),
        }


def sql_literal(value) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first-pid", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=["tsv", "sql"], default="tsv")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    out = sys.stdout
    if args.format == "tsv":
        for p in patients(args.count, args.first_pid, args.seed):
            out.write("\t".join(str(p[c]).replace("\\", "\\\\").replace("\t", " ") for c in TSV_COLUMNS) + "\n")
        return
    columns = ", ".join(TSV_COLUMNS)
    batch: list[str] = []

    def flush():
        if batch:
            out.write("INSERT INTO patient_data (%s) VALUES %s;\n" % (columns, ", ".join(batch)))
            batch.clear()

    for p in patients(args.count, args.first_pid, args.seed):
        values = [("UNHEX('%s')" % p[c]) if c == "uuid" else sql_literal(p[c]) for c in TSV_COLUMNS]
        batch.append("(" + ", ".join(values) + ")")
        if len(batch) >= args.batch:
            flush()
    flush()


if __name__ == "__main__":
    main()
