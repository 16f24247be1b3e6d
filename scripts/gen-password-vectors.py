#!/usr/bin/env python3
"""Regenerate Tests/PasswordCryptTests/Vectors/password-vectors.json.

Every hash comes from a real producer: PHP (password_hash / crypt), the
`openssl passwd` command line, and Python's hashlib (plain hex digests and
OpenEMR's `$SHA1$` salted form, computed exactly as OpenEMR 4.1.1-5.0.x did).
Nothing here is produced by the Swift code under test.

Requirements: php-cli (with argon2 support), openssl, python3.
Usage:        python3 scripts/gen-password-vectors.py [output.json]

Output: a JSON array of objects, one per vector:
  format    PasswordHashFormat case name the Swift detector must report
  password  the plaintext (UTF-8)
  hash      the stored hash string
  salt      separate salt column value (only for openEMRSaltedSHA1), or null
  producer  which tool made the hash
  expect    "match" -> verify(password) must give .match
            "unsupported" -> verify(password) must give .unsupported
            (wrong passwords give .mismatch, except for legacyBcrypt21, where they give
            .unsupported because the legacy retry cannot run on libxcrypt)
  alsoMatches  other passwords that must ALSO give .match (bcrypt 72-byte truncation)
"""

import hashlib
import json
import os
import secrets
import string
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = (sys.argv[1] if len(sys.argv) > 1 else
       os.path.join(ROOT, "Tests", "PasswordCryptTests", "Vectors", "password-vectors.json"))

# --- passwords -------------------------------------------------------------
ASCII = "password"
SPACES = "correct horse battery staple"
SPECIAL = "P@ss w0rd!$\\\"'`;%{}"
UMLAUT = "pässwörd"
EMOJI = "🔐 unicorn 🦄 pass"
LONG_A = "L" * 72 + "-tail-A"          # 79 bytes; bcrypt only sees the first 72
LONG_B = "L" * 72 + "-tail-B"          # differs from LONG_A only after byte 72
LONG_UTF8 = "ü" * 40                   # 80 bytes of 2-byte characters
LONG_UTF8_B = "ü" * 36 + "zzzz"        # same first 72 bytes as LONG_UTF8

ALL = [ASCII, SPACES, SPECIAL, UMLAUT, EMOJI, LONG_A, LONG_UTF8]
SHORT_SET = [ASCII, UMLAUT, EMOJI]

BCRYPT_ALPHABET = "./" + string.ascii_uppercase + string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits


def bcrypt_also(password):
    if password == LONG_A:
        return [LONG_B]
    if password == LONG_UTF8:
        return [LONG_UTF8_B]
    return []


def rand(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


# --- PHP -------------------------------------------------------------------
PHP = r'''
$jobs = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($jobs as $j) {
    if ($j["kind"] === "password_hash") {
        $algo = constant($j["algo"]);
        $h = password_hash($j["password"], $algo, $j["options"]);
    } else {
        $h = crypt($j["password"], $j["setting"]);
    }
    if (!is_string($h) || $h === "" || $h[0] === "*") { fwrite(STDERR, "php failed: " . json_encode($j) . "\n"); exit(1); }
    $out[] = $h;
}
echo json_encode($out);
'''


def php_batch(jobs):
    res = subprocess.run(["php", "-r", PHP], input=json.dumps(jobs).encode(), capture_output=True, check=True)
    return json.loads(res.stdout)


def openssl_passwd(flag, password):
    res = subprocess.run(["openssl", "passwd", flag, "-stdin"], input=(password + "\n").encode(),
                         capture_output=True, check=True)
    return res.stdout.decode().strip()


vectors = []
jobs = []  # (vector skeleton, php job)


def add_php(fmt, password, producer, job, expect="match", also=None):
    job = dict(job, password=password)
    jobs.append(({"format": fmt, "password": password, "salt": None, "producer": producer,
                  "expect": expect, "alsoMatches": also or []}, job))


# bcrypt via password_hash
for pw in ALL:
    add_php("bcrypt", pw, "php password_hash PASSWORD_BCRYPT cost=4",
            {"kind": "password_hash", "algo": "PASSWORD_BCRYPT", "options": {"cost": 4}}, also=bcrypt_also(pw))
for pw in [ASCII, EMOJI, LONG_A]:
    add_php("bcrypt", pw, "php password_hash PASSWORD_BCRYPT cost=10",
            {"kind": "password_hash", "algo": "PASSWORD_BCRYPT", "options": {"cost": 10}}, also=bcrypt_also(pw))
for pw in [ASCII, UMLAUT]:
    add_php("bcrypt", pw, "php password_hash PASSWORD_BCRYPT cost=12",
            {"kind": "password_hash", "algo": "PASSWORD_BCRYPT", "options": {"cost": 12}})

# bcrypt $2b$ via PHP crypt()
for pw in [ASCII, SPACES]:
    add_php("bcrypt", pw, "php crypt $2b$04$",
            {"kind": "crypt", "setting": "$2b$04$" + rand(BCRYPT_ALPHABET, 22)})

# argon2 via password_hash
for pw in [ASCII, SPACES, UMLAUT, EMOJI]:
    add_php("argon2id", pw, "php password_hash PASSWORD_ARGON2ID (defaults m=65536,t=4,p=1)",
            {"kind": "password_hash", "algo": "PASSWORD_ARGON2ID", "options": {}})
add_php("argon2id", SPECIAL, "php password_hash PASSWORD_ARGON2ID m=8192,t=2,p=2",
        {"kind": "password_hash", "algo": "PASSWORD_ARGON2ID",
         "options": {"memory_cost": 8192, "time_cost": 2, "threads": 2}})
for pw in [ASCII, UMLAUT, EMOJI]:
    add_php("argon2i", pw, "php password_hash PASSWORD_ARGON2I (defaults)",
            {"kind": "password_hash", "algo": "PASSWORD_ARGON2I", "options": {}})

# SHA-512 crypt via PHP crypt() (OpenEMR SHA512HASH writer uses $6$rounds=100000$<16 alnum>$)
for pw in [ASCII, EMOJI]:
    add_php("sha512Crypt", pw, "php crypt $6$rounds=100000$<16>$",
            {"kind": "crypt", "setting": "$6$rounds=100000$" + rand(ALNUM, 16) + "$"})
for pw in [ASCII, SPACES, UMLAUT, EMOJI, LONG_A]:
    add_php("sha512Crypt", pw, "php crypt $6$rounds=5000$<16>$",
            {"kind": "crypt", "setting": "$6$rounds=5000$" + rand(ALNUM, 16) + "$"})
for pw in [ASCII, SPECIAL, UMLAUT]:
    add_php("sha512Crypt", pw, "php crypt $6$<16>$",
            {"kind": "crypt", "setting": "$6$" + rand(ALNUM, 16) + "$"})

# OpenEMR 4.1.1-5.0.x style $2a$05$ (22-char salt) via PHP crypt(). The last salt character
# only carries 2 bits, so it is one of ".Oeu"; a quarter of genuine hashes therefore have '.'
# at index 28 and are detected as legacyBcrypt21 (they still verify via standard bcrypt).
for pw in [ASCII, SPACES, UMLAUT, LONG_A]:
    add_php("bcrypt", pw, "php crypt $2a$05$<22>",
            {"kind": "crypt", "setting": "$2a$05$" + rand(BCRYPT_ALPHABET, 21) + secrets.choice("Oeu")},
            also=bcrypt_also(pw))
for pw in [ASCII, EMOJI]:
    add_php("legacyBcrypt21", pw, "php crypt $2a$05$<21>. (genuine 22-char salt, '.' at index 28)",
            {"kind": "crypt", "setting": "$2a$05$" + rand(BCRYPT_ALPHABET, 21) + "."})

hashes = php_batch([j for _, j in jobs])
for (vec, _), h in zip(jobs, hashes):
    vec["hash"] = h
    vectors.append(vec)

# Pre-5.0.0 "21-char salt" $2a$05$ hashes. The producer (PHP < 5.3.7 with a 21-char
# salt + "$") no longer exists and modern crypt refuses that salt (returns *0), so
# this vector is reconstructed: the shape (60 chars, '.' at index 28) is produced by
# real PHP crypt with salt21 + ".", but the digest part comes from a DIFFERENT
# secret, because a genuine legacy hash is by definition one that standard bcrypt
# does not reproduce. The verifier must fall back to OpenEMR's retry, which libxcrypt
# rejects, so the expected outcome for the right password is .unsupported.
for pw in [ASCII, SPACES]:
    salt21 = rand(BCRYPT_ALPHABET, 21)
    real, other = php_batch([
        {"kind": "crypt", "password": pw, "setting": "$2a$05$" + salt21 + "."},
        {"kind": "crypt", "password": "legacy-digest-" + secrets.token_hex(8), "setting": "$2a$05$" + salt21 + "."},
    ])
    assert real[28] == "." and len(real) == 60
    vectors.append({"format": "legacyBcrypt21", "password": pw, "hash": real[:29] + other[29:], "salt": None,
                    "producer": "reconstructed pre-5.0 21-char-salt shape (php crypt $2a$05$<21>. + foreign digest)",
                    "expect": "unsupported", "alsoMatches": []})

# openssl passwd
for flag, fmt in [("-1", "md5Crypt"), ("-5", "sha256Crypt"), ("-6", "sha512Crypt")]:
    for pw in [ASCII, SPACES, UMLAUT, EMOJI]:
        vectors.append({"format": fmt, "password": pw, "hash": openssl_passwd(flag, pw), "salt": None,
                        "producer": "openssl passwd " + flag, "expect": "match", "alsoMatches": []})

# Python hashlib hex digests (legacy users.password / old portal_pwd)
for pw in [ASCII, SPACES, UMLAUT, EMOJI]:
    md5 = hashlib.md5(pw.encode()).hexdigest()
    sha1 = hashlib.sha1(pw.encode()).hexdigest()
    vectors.append({"format": "md5Hex", "password": pw, "hash": md5, "salt": None,
                    "producer": "python hashlib.md5().hexdigest()", "expect": "match", "alsoMatches": []})
    vectors.append({"format": "sha1Hex", "password": pw, "hash": sha1, "salt": None,
                    "producer": "python hashlib.sha1().hexdigest()", "expect": "match", "alsoMatches": []})
for pw in [ASCII, EMOJI]:
    vectors.append({"format": "md5Hex", "password": pw, "hash": hashlib.md5(pw.encode()).hexdigest().upper(),
                    "salt": None, "producer": "python hashlib.md5().hexdigest().upper()", "expect": "match",
                    "alsoMatches": []})
    vectors.append({"format": "sha1Hex", "password": pw, "hash": hashlib.sha1(pw.encode()).hexdigest().upper(),
                    "salt": None, "producer": "python hashlib.sha1().hexdigest().upper()", "expect": "match",
                    "alsoMatches": []})

# OpenEMR $SHA1$ fallback: salt = "$SHA1$" + 22 chars; hash = "$SHA1$" + sha1(salt || password)
for pw in [ASCII, SPACES, UMLAUT, EMOJI]:
    salt = "$SHA1$" + rand(BCRYPT_ALPHABET, 22)
    h = "$SHA1$" + hashlib.sha1((salt + pw).encode()).hexdigest()
    vectors.append({"format": "openEMRSaltedSHA1", "password": pw, "hash": h, "salt": salt,
                    "producer": "python hashlib.sha1(salt + password) with salt incl. $SHA1$ prefix",
                    "expect": "match", "alsoMatches": []})

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(vectors, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {len(vectors)} vectors to {OUT}")
