#!/usr/bin/env python3
"""Judges Jitsi tokens the way Prosody does (REFERENCE.md sections 2-5 and 8), with PyJWT as the independent decoder.

    pyjwt-check.py < cases.json      cases: [{"token", "key", "alg", "issuers", "audiences", "room", "sub", "now"}]
                                     prints [{"ok", "reason", "header", "claims", "moderator"}] as JSON
    pyjwt-check.py --bench N         PyJWT's own minting speed: HS256 and RS256 tokens per CPU second

"key" is the HS256 secret or the RS256 public key (PEM). "room" is the room JID node the client joins, "sub" the
XMPP domain (muc_mapper_domain_base) that enable_domain_verification compares with. No leeway anywhere.
"""
import json
import sys
import time

import jwt


def ascii_lower(text):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def judge(case):
    token, key, alg = case["token"], case["key"], case.get("alg", "HS256")
    issuers, audiences = case.get("issuers", ["*"]), case.get("audiences", ["*"])
    now = int(time.time()) if case.get("now") is None else int(case["now"])
    result = {"ok": False, "reason": "", "header": None, "claims": None, "moderator": False}
    parts = [p for p in token.replace("\\", ".").split(".") if p]
    if len(parts) != 3:
        result["reason"] = "Invalid token"
        return result
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        result["reason"] = "Invalid header"
        return result
    result["header"] = header
    if alg.startswith("RS") and case.get("kid_mode", True):
        if "kid" not in header:
            result["reason"] = "'kid' claim is missing"
            return result
    if header.get("typ") != "JWT":
        result["reason"] = "Invalid typ"
        return result
    if header.get("alg") != alg:
        result["reason"] = "Invalid or incorrect alg"
        return result
    try:
        body = jwt.decode(token, key, algorithms=[alg], options={
            "verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        result["reason"] = "Invalid signature"
        return result
    except jwt.PyJWTError as error:
        result["reason"] = "Invalid body: %s" % type(error).__name__
        return result
    result["claims"] = body
    user = (body.get("context") or {}).get("user") or {}
    result["moderator"] = user.get("moderator") in (True, "true") or user.get("affiliation") in ("owner", "moderator", "teacher")
    for claim in ("exp", "nbf"):
        value = body.get(claim)
        if claim in body and value is not False and (value is None or isinstance(value, bool) or not isinstance(value, (int, float))):
            result["reason"] = "%s must be number" % claim
            return result
    if isinstance(body.get("exp"), (int, float)) and now >= body["exp"]:
        result["reason"] = "Not acceptable by exp"
        return result
    if isinstance(body.get("nbf"), (int, float)) and now < body["nbf"]:
        result["reason"] = "Not acceptable by nbf"
        return result
    for claim, accepted in (("iss", issuers), ("aud", audiences)):
        if claim not in body:
            result["reason"] = "'%s' claim is missing" % claim
            return result
        if "*" not in accepted and not (isinstance(body[claim], str) and body[claim] in accepted):
            result["reason"] = "invalid '%s' claim" % claim
            return result
    if "room" not in body:
        result["reason"] = "room claim is missing"
        return result
    if "sub" not in body:
        result["reason"] = "sub claim is missing"
        return result
    room = body["room"]
    if not isinstance(room, str):
        result["reason"] = "room-name-does-not-match"
        return result
    auth_room = ascii_lower(room)
    if case.get("room") is not None and auth_room != "*" and auth_room != case["room"]:
        result["reason"] = "room-name-does-not-match"
        return result
    if case.get("sub") is not None:
        sub = body["sub"]
        if not isinstance(sub, str) or (ascii_lower(sub) != "*" and ascii_lower(sub) != ascii_lower(case["sub"])):
            result["reason"] = "room-mismatch"
            return result
    result["ok"] = True
    return result


def bench(count):
    from cryptography.hazmat.primitives.asymmetric import rsa

    now = int(time.time())
    payload = {"aud": "jitsi", "iss": "emr-bridge", "sub": "meet.example.com", "room": "v-abcdefghijklmnopqrstuvwxyz234567",
               "iat": now, "nbf": now - 60, "exp": now + 3600,
               "context": {"user": {"id": "u-0123456789abcdef01234567", "name": "Dr Jane Smith", "moderator": True,
                                    "affiliation": "owner", "lobby_bypass": True},
                           "features": {k: False for k in ("recording", "livestreaming", "transcription", "outbound-call",
                                                           "sip-outbound-call", "inbound-call", "sip-inbound-call",
                                                           "file-upload", "create-polls", "send-groupchat",
                                                           "screen-sharing", "flip", "list-visitors")}}}
    secret = "k" * 48
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def rate(n, **kw):
        start = time.process_time()
        for _ in range(n):
            jwt.encode(payload, **kw)
        return n / max(time.process_time() - start, 1e-9)

    rate(min(count, 1000), key=secret, algorithm="HS256")
    print("pyjwt_hs256_per_cpu_second %.0f" % rate(count, key=secret, algorithm="HS256", headers={"typ": "JWT"}))
    print("pyjwt_rs256_per_cpu_second %.0f" % rate(max(10, count // 20), key=key, algorithm="RS256",
                                                    headers={"typ": "JWT", "kid": "emr-bridge/bench"}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(int(sys.argv[2]))
    else:
        cases = json.load(sys.stdin)
        json.dump([judge(c) for c in cases], sys.stdout)
