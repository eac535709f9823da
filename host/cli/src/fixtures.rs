//! Fixture suites: YAML data files of cases, one entrypoint per file.
//!
//! Every key is checked (`deny_unknown_fields`). A file that does not parse is reported as one
//! failure naming the file; a case that does not parse is reported with its file and name, and
//! the rest of the file still runs.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use policy_rules::Entrypoint;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::{engine::EvalError, merge};

/// The server name in the base data of every fixture (`matrix.homeserver` in MAS).
pub const FIXTURE_SERVER_NAME: &str = "example.com";

/// A case found by a generator or a fuzzer, as a fixture file to paste under `tests/cases`:
/// `expected` (native's result) is the expectation, and each other engine's output is a comment.
/// `policy_data` is merged over the fixtures' base data when the file is loaded, as any
/// fixture's; `input: None` is a case without an input document.
pub fn as_fixture(
    entrypoint: Entrypoint,
    policy_data: &Value,
    input: Option<&Value>,
    expected: &Result<Vec<Value>, EvalError>,
    others: &[(&str, Result<Vec<Value>, EvalError>)],
) -> String {
    let expect = match expected {
        Ok(violations) => format!("expect: {}", Value::Array(violations.clone())),
        Err(EvalError::Data(msg)) => format!("expect_error: {}", Value::String(msg.clone())),
        Err(e @ EvalError::Engine(_)) => format!("expect: []  # native: {e}"),
    };
    let mut text =
        format!("entrypoint: {entrypoint}\ndata: {policy_data}\ncases:\n  - name: generated\n");
    if let Some(input) = input {
        let _ = writeln!(text, "    input: {input}");
    }
    let _ = writeln!(text, "    {expect}");
    for (name, result) in others {
        let shown = match result {
            Ok(v) => Value::Array(v.clone()).to_string(),
            Err(e) => format!("error: {e}"),
        };
        let _ = writeln!(text, "    # {name} gave: {shown}");
    }
    text
}

/// A fixture file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    entrypoint: String,
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for readers of the fixture")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
    /// The extension of this project every case needs (`tenants`, `mxid-admins`): MAS's own
    /// policy lacks it, so a run on MAS's module reports these cases apart.
    #[serde(default)]
    extension: Option<String>,
    cases: Vec<serde_norway::Value>,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The exact violation set.
    Violations(Vec<Value>),
    /// The violations named by `code`, or by `msg` when they have none.
    Codes(Vec<String>),
    /// The data is refused at load with an error containing this text.
    DataError(String),
}

/// One case as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for readers of the fixture")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    #[serde(default)]
    expect: Option<Vec<Value>>,
    #[serde(default)]
    expect_codes: Option<Vec<String>>,
    #[serde(default)]
    expect_error: Option<String>,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    upstream: Option<Vec<Value>>,
    #[serde(default)]
    extension: Option<String>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`; only a missing key is `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A case ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's name, unique in its file.
    pub name: String,
    /// The merged data document (base, file data, case data).
    pub data: Value,
    /// The input document, if any.
    pub input: Option<Value>,
    /// What must come out.
    pub expect: Expectation,
    /// The project decision the case documents, if any.
    pub decision: Option<String>,
    /// Upstream MAS's output for the same case, when a decision makes ours differ.
    pub upstream: Option<Vec<Value>>,
    /// The extension the case needs (its own `extension`, else its file's), if any.
    pub extension: Option<String>,
}

/// A fixture file, with the cases that parsed and the errors of those that did not.
#[derive(Debug)]
pub struct Suite {
    /// The file.
    pub path: PathBuf,
    /// The entrypoint every case evaluates.
    pub entrypoint: Entrypoint,
    /// Cases ready to run.
    pub cases: Vec<Case>,
    /// `(case label, error)` for cases that could not be read.
    pub broken: Vec<(String, String)>,
}

/// Reads a fixture file, its data merged over MAS's base data for [`FIXTURE_SERVER_NAME`].
///
/// # Errors
///
/// A one-line error naming the file when it cannot be read or its top level is invalid.
pub fn load(path: &Path) -> Result<Suite, String> {
    load_over(path, &merge::base(FIXTURE_SERVER_NAME))
}

/// Reads a fixture file, its data merged over `base`: MAS's base data, or a deployment's
/// data assembled as MAS assembles it (base, `policy.data`, dynamic data), so that a suite
/// tests what that deployment decides.
///
/// # Errors
///
/// A one-line error naming the file when it cannot be read or its top level is invalid.
pub fn load_over(path: &Path, base: &Value) -> Result<Suite, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let spec: FileSpec = serde_norway::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), one_line(&e.to_string())))?;
    let entrypoint = Entrypoint::from_name(&spec.entrypoint).ok_or_else(|| {
        format!(
            "{}: unknown entrypoint `{}`",
            path.display(),
            spec.entrypoint
        )
    })?;
    let file_data = merge::merge(base.clone(), spec.data.unwrap_or_else(merge::empty))
        .map_err(|e| format!("{}: data: {e}", path.display()))?;

    let mut suite = Suite {
        path: path.to_owned(),
        entrypoint,
        cases: Vec::new(),
        broken: Vec::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (index, raw) in spec.cases.into_iter().enumerate() {
        let label = raw
            .get("name")
            .and_then(serde_norway::Value::as_str)
            .map_or_else(|| format!("cases[{index}]"), str::to_owned);
        match case(raw, &file_data, spec.extension.as_ref()) {
            Ok(case) if !seen.insert(case.name.clone()) => suite
                .broken
                .push((label, "duplicate case name in this file".to_owned())),
            Ok(case) => suite.cases.push(case),
            Err(err) => suite.broken.push((label, err)),
        }
    }
    Ok(suite)
}

fn case(
    raw: serde_norway::Value,
    file_data: &Value,
    file_extension: Option<&String>,
) -> Result<Case, String> {
    let spec: CaseSpec = serde_norway::from_value(raw).map_err(|e| one_line(&e.to_string()))?;
    let expect = match (spec.expect, spec.expect_codes, spec.expect_error) {
        (Some(v), None, None) => Expectation::Violations(v),
        (None, Some(c), None) => Expectation::Codes(c),
        (None, None, Some(e)) => Expectation::DataError(e),
        _ => return Err("needs exactly one of `expect`, `expect_codes`, `expect_error`".into()),
    };
    if spec.upstream.is_some() && spec.decision.is_none() {
        return Err("`upstream` documents a decision: add `decision`".to_owned());
    }
    let data = match spec.data {
        Some(d) => merge::merge(file_data.clone(), d).map_err(|e| format!("data: {e}"))?,
        None => file_data.clone(),
    };
    Ok(Case {
        name: spec.name,
        data,
        input: spec.input,
        expect,
        decision: spec.decision,
        upstream: spec.upstream,
        extension: spec.extension.or_else(|| file_extension.cloned()),
    })
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `.yaml`/`.yml` files under `path` (or `path` itself), sorted.
///
/// # Errors
///
/// When a directory cannot be read.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        let p = entry.path();
        if p.is_dir() {
            files.extend(discover(&p)?);
        } else if p
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}
