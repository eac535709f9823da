//! Claims-mapping fixtures (`tests/claims/*.yaml`): data, not code, run on every engine.
//!
//! ```yaml
//! data: {tenants: {…}}                          # merged over MAS's base data (example.com)
//! claims_imports: {localpart: {action: force}}  # the provider's block, for every case
//! tenant_template: true                         # the localpart template as `build` writes it
//!                                               # (a case's `template_data`: generated from
//!                                               # other data, as before a data push)
//! cases:
//!   - name: email-as-username
//!     description: what MAS users report        # optional
//!     claims: {id_token_claims: {preferred_username: alice@example.org}}
//!     # claims_imports / data: replace the file's for this case
//!     expect:
//!       outcome: error                          # the only required key
//!       localpart: alice@example.org            # any Mapping field; null means absent
//!       codes: [username-invalid-chars]         # or violations: [exact objects]
//!       fix: {expression: "| lower"}            # the listed keys of the fix, or null
//!       unknown_keys: [claims_imports.tenant_id]
//!   - name: bad-action
//!     claims_imports: {localpart: {action: Force}}
//!     expect_load_error: "invalid claims_imports: …"
//! ```
//!
//! Every key is checked (`deny_unknown_fields`); a case passes only when every engine gives
//! the same mapping (or the same load error) and it matches the expectation.

use std::path::{Path, PathBuf};

use claims_mapper::Mapping;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::MapperEngine;
use crate::{fixtures::FIXTURE_SERVER_NAME, merge};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    claims_imports: Option<Value>,
    /// The block's localpart template is wrapped in the generated tenant template first, as
    /// `policy-test build` writes it into `mas-config.yaml`.
    #[serde(default)]
    tenant_template: bool,
    cases: Vec<CaseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    claims_imports: Option<Value>,
    /// Overrides the file's `tenant_template`.
    #[serde(default)]
    tenant_template: Option<bool>,
    /// The policy data the tenant template was generated from, when it is not the case's
    /// data: a template built before a data push.
    #[serde(default)]
    template_data: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    expect_load_error: Option<String>,
}

/// Reads a key that is present, `null` included, as `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    outcome: String,
    #[serde(default, deserialize_with = "present")]
    subject: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    localpart: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    mxid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    displayname: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    tenant: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    claimed_tenant: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    fix: Option<Value>,
    #[serde(default)]
    codes: Option<Vec<String>>,
    #[serde(default)]
    violations: Option<Vec<Value>>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
    #[serde(default)]
    unknown_keys: Option<Vec<String>>,
}

/// One case, resolved: the merged data, the block and the claims.
#[derive(Debug)]
pub struct Case {
    /// `file::name`.
    pub label: String,
    /// The policy data, merged over MAS's base data.
    pub data: Value,
    /// The `claims_imports` block.
    pub imports: Value,
    /// The claims document.
    pub claims: Value,
    expect: Result<Expect, String>,
}

/// The result of one case on every engine.
#[derive(Debug)]
pub struct CaseResult {
    /// `file::name`.
    pub label: String,
    /// Why it failed, or `None`.
    pub failure: Option<String>,
}

/// The `*.yaml` files under `root` (or `root` itself), sorted.
///
/// # Errors
///
/// When the folder cannot be read.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, String> {
    if root.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads one fixture file.
///
/// # Errors
///
/// When the file cannot be read, is not valid, or a case is malformed; the message names the
/// file and the case.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let suite: SuiteFile = serde_norway::from_str(&text)
        .map_err(|e| format!("{}: invalid fixture file: {e}", path.display()))?;
    let _ = suite.description;
    let mut cases = Vec::new();
    for case in suite.cases {
        let label = format!("{}::{}", path.display(), case.name);
        let _ = case.description;
        let policy_data = case
            .data
            .or_else(|| suite.data.clone())
            .unwrap_or_else(merge::empty);
        let data = merge::merge(merge::base(FIXTURE_SERVER_NAME), policy_data)
            .map_err(|e| format!("{label}: invalid data: {e}"))?;
        let expect = match (case.expect, case.expect_load_error) {
            (Some(e), None) => Ok(e),
            (None, Some(err)) => Err(err),
            _ => {
                return Err(format!(
                    "{label}: give exactly one of `expect` and `expect_load_error`"
                ));
            }
        };
        if expect.is_ok() && case.claims.is_none() {
            return Err(format!("{label}: `claims` is required with `expect`"));
        }
        let mut imports = case
            .claims_imports
            .or_else(|| suite.claims_imports.clone())
            .unwrap_or(Value::Null);
        if case.tenant_template.unwrap_or(suite.tenant_template) {
            let template_data = match case.template_data {
                Some(d) => merge::merge(merge::base(FIXTURE_SERVER_NAME), d)
                    .map_err(|e| format!("{label}: invalid template_data: {e}"))?,
                None => data.clone(),
            };
            // Data the policy refuses is left to the engines, whose load error is expected.
            if let Ok(policy) = policy_rules::PolicyData::compile(Some(&template_data)) {
                imports = claims_mapper::tenant_template::apply(&imports, policy.tenants())
                    .map_err(|e| format!("{label}: cannot generate the tenant template: {e}"))?
                    .0;
            }
        }
        cases.push(Case {
            label,
            data,
            imports,
            claims: case.claims.unwrap_or(Value::Null),
            expect,
        });
    }
    Ok(cases)
}

/// What one engine made of a case.
#[derive(Debug, PartialEq)]
enum Got {
    LoadError(String),
    MapError(String),
    Mapped(Box<Mapping>, Vec<String>),
}

fn run_on(engine: &dyn MapperEngine, imports: &Value, data: &Value, claims: &Value) -> Got {
    let mut mapper = match engine.load(imports, data) {
        Ok(m) => m,
        Err(e) => return Got::LoadError(e),
    };
    let keys = mapper.unknown_keys();
    match mapper.map(claims) {
        Ok(m) => Got::Mapped(Box::new(m), keys),
        Err(e) => Got::MapError(e),
    }
}

/// Loads `imports` with `data` and maps `claims` on every engine: the first engine's result
/// when all agree, else the disagreement.
fn agreed(
    engines: &[Box<dyn MapperEngine>],
    imports: &Value,
    data: &Value,
    claims: &Value,
) -> Result<Got, String> {
    let mut results = engines
        .iter()
        .map(|e| (e.name(), run_on(e.as_ref(), imports, data, claims)));
    let Some((first_name, first)) = results.next() else {
        return Err("no engine".to_owned());
    };
    for (name, got) in results {
        if got != first {
            return Err(format!(
                "engines disagree:\n{first_name}: {first:?}\n{name}: {got:?}"
            ));
        }
    }
    Ok(first)
}

/// Whether every engine makes the same of one login: the same load error, or the same
/// unknown keys and the same mapping or map error. The claims fuzz target's check
/// (`policy_test::fuzz::ClaimsCheck`).
///
/// # Errors
///
/// The first disagreement, with both results.
pub fn engines_agree(
    engines: &[Box<dyn MapperEngine>],
    imports: &Value,
    data: &Value,
    claims: &Value,
) -> Result<(), String> {
    agreed(engines, imports, data, claims).map(|_| ())
}

/// Runs one case on every engine; engines must agree, then the expectation must hold.
pub fn run_case(case: &Case, engines: &[Box<dyn MapperEngine>]) -> CaseResult {
    let failure = check_case(case, engines).err();
    CaseResult {
        label: case.label.clone(),
        failure,
    }
}

fn check_case(case: &Case, engines: &[Box<dyn MapperEngine>]) -> Result<(), String> {
    let first = &agreed(engines, &case.imports, &case.data, &case.claims)?;
    match (&case.expect, first) {
        (Err(want), Got::LoadError(got)) if want == got => Ok(()),
        (Err(want), other) => Err(format!("expected load error `{want}`, got {other:?}")),
        (Ok(_), Got::LoadError(e) | Got::MapError(e)) => Err(format!("unexpected error: {e}")),
        (Ok(expect), Got::Mapped(mapping, keys)) => check_expect(expect, mapping, keys),
    }
}

fn check_expect(expect: &Expect, mapping: &Mapping, keys: &[String]) -> Result<(), String> {
    let got = serde_json::to_value(mapping).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let mut same = |what: &str, want: &Value, got: &Value| {
        if want != got {
            problems.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    same(
        "outcome",
        &Value::from(expect.outcome.as_str()),
        &got["outcome"],
    );
    for (key, want) in [
        ("subject", &expect.subject),
        ("localpart", &expect.localpart),
        ("mxid", &expect.mxid),
        ("displayname", &expect.displayname),
        ("email", &expect.email),
        ("tenant", &expect.tenant),
        ("claimed_tenant", &expect.claimed_tenant),
        ("description", &expect.description),
    ] {
        if let Some(want) = want {
            same(key, want, &got[key]);
        }
    }
    match &expect.fix {
        None => {}
        Some(Value::Object(want)) => {
            let fix = got["fix"].as_object().cloned().unwrap_or_else(Map::new);
            for (key, value) in want {
                same(
                    &format!("fix.{key}"),
                    value,
                    fix.get(key).unwrap_or(&Value::Null),
                );
            }
        }
        Some(want) => same("fix", want, &got["fix"]),
    }
    if let Some(codes) = &expect.codes {
        same(
            "codes",
            &Value::from(codes.clone()),
            &Value::from(mapping.codes()),
        );
    }
    if let Some(violations) = &expect.violations {
        same(
            "violations",
            &Value::Array(violations.clone()),
            &got["violations"],
        );
    }
    if let Some(warnings) = &expect.warnings {
        same("warnings", &Value::from(warnings.clone()), &got["warnings"]);
    }
    if let Some(want) = &expect.unknown_keys {
        same(
            "unknown_keys",
            &Value::from(want.clone()),
            &Value::from(keys.to_vec()),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nmapping: {got}", problems.join("\n")))
    }
}
