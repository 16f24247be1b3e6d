#!/usr/bin/env bash
# A throwaway virtualenv with PyJWT (and cryptography, for RS256) from PyPI, the independent JWT library the tests
# and benchmark 6 judge the bridge's Jitsi tokens with. Made once under .local/pyjwt-venv; prints its python.
#
#   scripts/pyjwt-venv.sh      -> .local/pyjwt-venv/bin/python
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="$PWD/.local/pyjwt-venv"
if ! "$VENV/bin/python" -c 'import jwt, cryptography' >/dev/null 2>&1; then
    mkdir -p .local
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'PyJWT>=2.8' 'cryptography>=41' >&2
fi
echo "$VENV/bin/python"
