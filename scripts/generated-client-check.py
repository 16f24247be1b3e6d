"""A client generated from /api/openapi.json (openapi-python-client, from PyPI) signs in, lists, creates and patches a
patient against a running EMRBridge. Run by the Swift test LiveContractTests (issue 19) with the venv of
scripts/contract-venv.sh:

    python scripts/generated-client-check.py BASE_URL WORK_DIR

Exits non-zero, with the reason on stderr, when generation or any step fails.
"""
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import urllib.request

base, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
spec_path = os.path.join(work, "openapi.json")
with urllib.request.urlopen(base + "/api/openapi.json") as response:
    document = json.load(response)
# openapi-python-client 0.29 writes code that does not import (NameError: Unset) for a request body with several media
# types; the client speaks JSON, so its copy of the document keeps only the JSON body of the sign-in operations.
for item in document["paths"].values():
    for operation in item.values():
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            for media in [m for m in content if m != "application/json"]:
                del content[media]
with open(spec_path, "w") as out:
    json.dump(document, out)

generator = os.path.join(os.path.dirname(sys.executable), "openapi-python-client")
out_dir = os.path.join(work, "client")
result = subprocess.run(
    [generator, "generate", "--path", spec_path, "--output-path", out_dir, "--overwrite", "--meta", "none"],
    capture_output=True, text=True,
)
if result.returncode != 0:
    sys.exit("generation failed:\n" + result.stdout + result.stderr)
# A warning means part of the document could not be turned into typed code. Only the raw-body endpoints (CSV/NDJSON
# import, audio upload and download) may warn: the generator has no type for those media types.
raw_bodies = ("POST /api/encounters/import/", "GET /api/transcriptions/{id}/audio/", "PUT /api/transcriptions/{id}/audio/")
for line in (result.stdout + result.stderr).splitlines():
    if line.startswith("WARNING parsing") and not any(endpoint in line for endpoint in raw_bodies):
        sys.exit("generation warning:\n" + result.stdout + result.stderr)
    if "Unable to" in line:
        sys.exit("generation error:\n" + result.stdout + result.stderr)

sys.path.insert(0, work)
package = importlib.import_module("client")
api = importlib.import_module("client.api.default")
modules = {m.name: importlib.import_module("client.api.default." + m.name) for m in pkgutil.iter_modules(api.__path__)}
models = importlib.import_module("client.models")


def op(name):
    if name not in modules:
        sys.exit(f"no generated operation {name}; have {sorted(modules)}")
    return modules[name]


client = package.Client(base_url=base, raise_on_unexpected_status=True)
login = op("post_api_auth_login").sync(client=client, body=models.Credentials(username="drsmith", password="doctor123"))
if not isinstance(login, models.Login):
    sys.exit(f"login answered {login!r}")
authed = package.AuthenticatedClient(base_url=base, token=login.token, raise_on_unexpected_status=True)

page = op("get_api_patients").sync(client=authed, page_size="5")
if not isinstance(page, models.PatientPage) or len(page.results) == 0 or page.count < len(page.results):
    sys.exit(f"list answered {page!r}")

created = op("post_api_patients").sync(
    client=authed, body=models.PatientCreate(fname="Gen", lname="Client", sex=models.PatientCreateSex("Female"), dob="1991-02-03", city="Typed")
)
if not isinstance(created, models.Patient) or created.fname != "Gen" or created.dob != "1991-02-03":
    sys.exit(f"create answered {created!r}")

patched = op("patch_api_patients_pid").sync(client=authed, pid=created.pid, body=models.PatientPatch(city="Patched"))
if not isinstance(patched, models.Patient) or patched.city != "Patched" or patched.lname != "Client":
    sys.exit(f"patch answered {patched!r}")

# The document's enum of OpenEMR's sex list became a type: a value outside it cannot even be sent.
try:
    models.PatientCreateSex("Robot")
    sys.exit("the generated sex enum accepted Robot")
except ValueError:
    pass
refused = op("post_api_patients").sync_detailed(
    client=package.AuthenticatedClient(base_url=base, token=login.token),
    body=models.PatientCreate(fname="Gen", lname="Client", sex=models.PatientCreateSex("Male"), dob="0326-07-02"),
)
if refused.status_code != 400 or not isinstance(refused.parsed, models.Error) or "dob" not in refused.parsed.error.details.additional_properties:
    sys.exit(f"an invalid create answered {refused.status_code} {refused.parsed!r}")

print(json.dumps({"pid": created.pid, "listed": len(page.results), "count": page.count}))
