#!/usr/bin/env bash
# Throwaway virtualenvs (from PyPI) for the API contract tests (issue 19), made once under .local/:
#   .local/schemathesis-venv   schemathesis, the schema-driven fuzzer run against /api/openapi.json
#   .local/client-venv         openapi-python-client, which generates a Python client from /api/openapi.json
# Prints the two venv folders, one a line. Versions are pinned so a run is repeatable.
#
#   scripts/contract-venv.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCHEMATHESIS_VERSION=4.32.5
CLIENT_GENERATOR_VERSION=0.29.1
mkdir -p .local

FUZZ="$PWD/.local/schemathesis-venv"
if ! "$FUZZ/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    rm -rf "$FUZZ"
    python3 -m venv "$FUZZ" >&2
    "$FUZZ/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi

CLIENT="$PWD/.local/client-venv"
if ! "$CLIENT/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('openapi-python-client') != '$CLIENT_GENERATOR_VERSION')" 2>/dev/null; then
    rm -rf "$CLIENT"
    python3 -m venv "$CLIENT" >&2
    # httpx and attrs: what the generated client imports.
    "$CLIENT/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$CLIENT_GENERATOR_VERSION" httpx attrs python-dateutil >&2
fi
echo "$FUZZ"
echo "$CLIENT"
