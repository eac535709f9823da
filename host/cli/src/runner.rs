//! The differential fixture runner.
//!
//! Each case runs on every selected engine. A case passes only when every engine meets the
//! expectation *and* all engines agree with each other; a disagreement is reported with each
//! engine's output. Outputs must also already be in OPA's canonical order (decision D4).

use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use policy_rules::value::canonicalize;
use serde_json::Value;

use crate::{
    engine::{Engine, EvalError, same_decision},
    fixtures::{self, Case, Expectation, Suite},
};

/// Why a case may legitimately fail on a policy that is not this project's (MAS's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// The case needs an extension of this project (`tenants`, `mxid-admins`).
    Extension(String),
    /// The case documents a decision where this project differs from MAS (`D1`…`D7`).
    Decision(String),
}

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseReport {
    /// `file::case`.
    pub label: String,
    /// Why it failed, one finding per line; `None` when it passed.
    pub failure: Option<String>,
    /// The case's extension or decision marker.
    pub marker: Option<Marker>,
    /// The violations the first engine produced, when the case passed.
    pub violations: Vec<Value>,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Every case, in order.
    pub cases: Vec<CaseReport>,
}

impl RunReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

fn render(result: &Result<Vec<Value>, EvalError>) -> String {
    match result {
        Ok(v) => Value::Array(v.clone()).to_string(),
        Err(e) => format!("error: {e}"),
    }
}

fn name_of(v: &Value) -> String {
    v.get("code").or_else(|| v.get("msg")).map_or_else(
        || v.to_string(),
        |n| n.as_str().map_or_else(|| n.to_string(), str::to_owned),
    )
}

/// Checks one engine's result against the expectation.
fn check(expect: &Expectation, result: &Result<Vec<Value>, EvalError>) -> Option<String> {
    match (expect, result) {
        (Expectation::Violations(want), Ok(got)) => {
            let mut want = want.clone();
            canonicalize(&mut want);
            (want != *got).then(|| {
                format!(
                    "expected {}, got {}",
                    Value::Array(want),
                    Value::Array(got.clone())
                )
            })
        }
        (Expectation::Codes(want), Ok(got)) => {
            let mut want = want.clone();
            want.sort();
            let mut names: Vec<String> = got.iter().map(name_of).collect();
            names.sort();
            (want != names).then(|| format!("expected codes {want:?}, got {names:?}"))
        }
        (Expectation::DataError(want), Err(EvalError::Data(msg))) => (!msg.contains(want.as_str()))
            .then(|| format!("expected a data error containing `{want}`, got `{msg}`")),
        (Expectation::DataError(want), other) => Some(format!(
            "expected a data error containing `{want}`, got {}",
            render(other)
        )),
        (_, Err(e)) => Some(format!("unexpected error: {e}")),
    }
}

fn evaluate(engine: &dyn Engine, suite: &Suite, case: &Case) -> Result<Vec<Value>, EvalError> {
    let mut policy = engine.load(&case.data)?;
    policy.evaluate(suite.entrypoint, case.input.as_ref())
}

/// Runs one case on every engine; returns the failure, or the first engine's violations.
fn run_case(engines: &[Box<dyn Engine>], suite: &Suite, case: &Case) -> Result<Vec<Value>, String> {
    let results: Vec<_> = engines
        .iter()
        .map(|engine| (engine.name(), evaluate(engine.as_ref(), suite, case)))
        .collect();
    let mut lines = Vec::new();
    for (name, result) in &results {
        if let Some(why) = check(&case.expect, result) {
            lines.push(format!("[{name}] {why}"));
        }
        if let Ok(got) = result {
            let mut sorted = got.clone();
            canonicalize(&mut sorted);
            if sorted != *got {
                lines.push(format!("[{name}] output is not in canonical order"));
            }
        }
    }
    if let Some(((first_name, first), rest)) = results.split_first() {
        for (name, result) in rest {
            if !same_decision(first, result) {
                lines.push(format!(
                    "engines disagree:\n  {first_name}: {}\n  {name}: {}",
                    render(first),
                    render(result)
                ));
            }
        }
    }
    if !lines.is_empty() {
        return Err(lines.join("\n"));
    }
    Ok(results
        .into_iter()
        .next()
        .and_then(|(_, result)| result.ok())
        .unwrap_or_default())
}

/// Runs every fixture file under `paths` on `engines`, calling `on_case` as each case ends.
pub fn run(
    paths: &[PathBuf],
    engines: &[Box<dyn Engine>],
    mut on_case: impl FnMut(&CaseReport),
) -> RunReport {
    run_while(paths, engines, |case| {
        on_case(case);
        ControlFlow::Continue(())
    })
}

/// As [`run`], but stops as soon as `on_case` breaks (the CLI stops when its output pipe is
/// closed); the report then holds the cases that ran.
pub fn run_while(
    paths: &[PathBuf],
    engines: &[Box<dyn Engine>],
    on_case: impl FnMut(&CaseReport) -> ControlFlow<()>,
) -> RunReport {
    run_over(
        paths,
        engines,
        &crate::merge::base(fixtures::FIXTURE_SERVER_NAME),
        on_case,
    )
}

/// As [`run_while`], with every suite's data merged over `base` (see
/// [`fixtures::load_over`]).
pub fn run_over(
    paths: &[PathBuf],
    engines: &[Box<dyn Engine>],
    base: &Value,
    mut on_case: impl FnMut(&CaseReport) -> ControlFlow<()>,
) -> RunReport {
    let mut report = RunReport::default();
    for case in paths
        .iter()
        .flat_map(|root| root_cases(root, engines, base))
    {
        let flow = on_case(&case);
        report.cases.push(case);
        if flow.is_break() {
            break;
        }
    }
    report
}

/// A failure that is not a case's: an unreadable folder or file, or a case that does not parse.
fn broken(label: String, failure: String) -> CaseReport {
    CaseReport {
        label,
        failure: Some(failure),
        marker: None,
        violations: Vec::new(),
    }
}

/// The cases under `root`, each run when the iterator reaches it.
fn root_cases<'a>(
    root: &Path,
    engines: &'a [Box<dyn Engine>],
    base: &'a Value,
) -> Box<dyn Iterator<Item = CaseReport> + 'a> {
    match fixtures::discover(root) {
        Ok(files) => Box::new(
            files
                .into_iter()
                .flat_map(move |file| file_cases(&file, engines, base)),
        ),
        Err(err) => Box::new(std::iter::once(broken(root.display().to_string(), err))),
    }
}

/// The cases of one file: first those that do not parse, then the others, each run when the
/// iterator reaches it.
fn file_cases<'a>(
    file: &Path,
    engines: &'a [Box<dyn Engine>],
    base: &Value,
) -> Box<dyn Iterator<Item = CaseReport> + 'a> {
    let name = file.display().to_string();
    let suite = match fixtures::load_over(file, base) {
        Ok(suite) => suite,
        Err(err) => return Box::new(std::iter::once(broken(name, err))),
    };
    let invalid: Vec<CaseReport> = suite
        .broken
        .iter()
        .map(|(label, err)| broken(format!("{name}::{label}"), format!("invalid case: {err}")))
        .collect();
    let cases = (0..suite.cases.len()).map(move |i| {
        let case = &suite.cases[i];
        let (failure, violations) = match run_case(engines, &suite, case) {
            Ok(violations) => (None, violations),
            Err(why) => (Some(why), Vec::new()),
        };
        let marker = case
            .extension
            .clone()
            .map(Marker::Extension)
            .or_else(|| case.decision.clone().map(Marker::Decision));
        CaseReport {
            label: format!("{name}::{}", case.name),
            failure,
            marker,
            violations,
        }
    });
    Box::new(invalid.into_iter().chain(cases))
}
