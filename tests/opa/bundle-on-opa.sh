#!/usr/bin/env bash
# The Rego of a built bundle on real OPA (a development check, not CI: it needs
# ../shared/tools/opa-eval, which fetches OPA's Go library from PyPI on first use).
#
# Builds the OpenMeet bundle, unpacks bundle.tar.gz, evaluates every fixture case whose data
# loads (the Rego assumes data the Rust loader has validated) with the bundle's Rego on OPA,
# and compares each result with the native engine's. Exit 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
opa_eval=${OPA_EVAL:-../shared/tools/opa-eval}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q -p policy-test --bin policy-test
target/debug/policy-test build --config tests/bundle/openmeet.yaml --out "$work/dist" >/dev/null
mkdir "$work/unpacked"
tar xzf "$work/dist/bundle.tar.gz" -C "$work/unpacked" 2>/dev/null
target/debug/policy-test export --out "$work/cases.jsonl" >/dev/null

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/batch.jsonl", "w") as batch, open(f"{work}/expected.jsonl", "w") as expected:
    for line in open(f"{work}/cases.jsonl"):
        case = json.loads(line)
        if "result" not in case:
            continue
        query = {"query": "data." + case["entrypoint"].split("/")[0] + ".violation", "data": case["data"]}
        if "input" in case:
            query["input"] = case["input"]
        batch.write(json.dumps(query) + "\n")
        expected.write(json.dumps({"label": case["label"], "result": case["result"]}) + "\n")
PY
"$opa_eval" batch --rego "$work/unpacked/rego" "$work/batch.jsonl" >"$work/opa.jsonl"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def canonical(v):
    return sorted(json.dumps(x, sort_keys=True) for x in v) if isinstance(v, list) else v
failed = 0
total = 0
for want, got in zip(open(f"{work}/expected.jsonl"), open(f"{work}/opa.jsonl")):
    want, got = json.loads(want), json.loads(got)
    total += 1
    if canonical(got.get("result")) != canonical(want["result"]):
        failed += 1
        print(f"FAIL {want['label']}: opa {got} native {want['result']}")
print(f"{total - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
