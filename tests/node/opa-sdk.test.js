// policy.wasm in the OPA JS SDK (@open-policy-agent/opa-wasm 1.10 on Node 20), the second host
// the MAS contract names. Every fixture case, exported with the native engine's result by
// `policy-test export`, must give the same answer here. The SDK loads data without a trailing
// NUL, passes a missing input as (0, 0) and uses the `opa_eval` fast path (ABI minor >= 2).
import { readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import opa from "@open-policy-agent/opa-wasm";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const wasm = readFileSync(process.env.POLICY_WASM ?? join(root, "target/wasm/policy.wasm"));
const casesFile = process.env.POLICY_CASES ?? join(root, "target/cases.jsonl");
const cases = readFileSync(casesFile, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line));

test("the module loads and lists the five MAS entrypoints", async () => {
  const policy = await opa.loadPolicy(wasm);
  assert.deepEqual(Object.keys(policy.entrypoints).sort(), [
    "authorization_grant/violation",
    "client_registration/violation",
    "compat_login/violation",
    "email/violation",
    "register/violation",
  ]);
});

test(`every exported fixture case (${cases.length}) agrees with the native engine`, async () => {
  assert.ok(cases.length > 0, `no cases in ${casesFile}`);
  const policy = await opa.loadPolicy(wasm);
  const failures = [];
  for (const c of cases) {
    try {
      if (c.data_error !== undefined) {
        assert.throws(() => policy.setData(c.data), (err) => String(err?.message ?? err).includes(c.data_error));
        continue;
      }
      policy.setData(c.data);
      const got = policy.evaluate(c.input, c.entrypoint);
      assert.deepEqual(got, [{ result: c.result }]);
    } catch (err) {
      failures.push(`${c.label}: ${String(err?.message ?? err).split("\n").slice(0, 6).join(" ")}`);
    }
  }
  assert.deepEqual(failures, []);
});
