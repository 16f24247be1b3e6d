#!/usr/bin/env bash
# The layout rules of the code (run by scripts/test.sh, so CI checks them):
#  1. the OpenEMR domain target never depends on Hummingbird or HTTPTypes, directly or through another target or
#     package (read from `swift package describe` and `swift package show-dependencies`);
#  2. no controller file holds SQL: controllers parse, call one domain operation and write the answer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

describe="$(mktemp)"
deps="$(mktemp)"
trap 'rm -f "$describe" "$deps"' EXIT
swift package describe --type json >"$describe"
swift package show-dependencies --format json >"$deps"

python3 - "$describe" "$deps" <<'PY'
import json, sys
describe, deps = (json.load(open(p)) for p in sys.argv[1:3])
targets = {t["name"]: t for t in describe["targets"]}
forbidden = ("hummingbird", "httptypes", "swift-http-types")

# Which package each product comes from, and each package's own dependencies, transitively.
packages = {}
def walk(node):
    packages[node["identity"]] = [d["identity"] for d in node.get("dependencies", [])]
    for child in node.get("dependencies", []):
        walk(child)
walk(deps)
def closure(identity, seen=None):
    seen = set() if seen is None else seen
    for child in packages.get(identity, []):
        if child not in seen:
            seen.add(child)
            closure(child, seen)
    return seen

local, products, stack = set(), set(), ["OpenEMR"]
while stack:
    name = stack.pop()
    if name in local:
        continue
    local.add(name)
    target = targets[name]
    stack.extend(target.get("target_dependencies", []))
    products.update(target.get("product_dependencies", []))

problems = [f"target {t}" for t in local if t in ("App", "EMRBridge")]
problems += [f"product {p}" for p in products if p.lower().startswith(forbidden)]
# Packages that provide OpenEMR's products must not pull Hummingbird or HTTPTypes in either.
providers = {"Logging": "swift-log", "Metrics": "swift-metrics", "NIOPosix": "swift-nio", "NIOCore": "swift-nio", "_NIOFileSystem": "swift-nio",
             "ServiceLifecycle": "swift-service-lifecycle", "Crypto": "swift-crypto", "_CryptoExtras": "swift-crypto"}
for product in products:
    package = providers.get(product)
    if package is None:
        problems.append(f"product {product} (unknown provider: add it to scripts/check-layout.sh after checking it)")
        continue
    reachable = {package} | closure(package)
    problems += [f"package {p} (through {product})" for p in reachable if p.startswith(forbidden)]
if problems:
    sys.exit("layout: the OpenEMR target reaches " + ", ".join(sorted(problems)))
print("layout: OpenEMR depends on targets %s and products %s; no Hummingbird/HTTPTypes" % (sorted(local - {"OpenEMR"}), sorted(products)))
PY

if grep -rnE 'import (Hummingbird|HTTPTypes)' Sources/OpenEMR; then
    echo "layout: Sources/OpenEMR imports the HTTP stack" >&2
    exit 1
fi
sql='SELECT[[:space:]].*[[:space:]]FROM|INSERT[[:space:]]+INTO|UPDATE[[:space:]]+[^[:space:]]+[[:space:]]+SET|DELETE[[:space:]]+FROM|MariaDBQuery|withTransaction|withConnection|(database|connection|client)\.quer(y|ies)\('
if grep -nE "$sql" Sources/App/Controllers/*.swift; then
    echo "layout: a controller holds SQL (move it into Sources/OpenEMR)" >&2
    exit 1
fi
echo "layout: no SQL in Sources/App/Controllers"
