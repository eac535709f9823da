//! A test runner for the Rego twin's `test_*` rules: the `opa test` that regorus lacks.
//!
//! Test rules are found by reading each `*_test.rego` file's `package` line and the rules
//! whose name starts with `test_` at the start of a line. Each is evaluated with regorus over
//! all policies and tests; a test passes when its value is `true`. With coverage on, regorus
//! records which lines of the policies the tests evaluated.

use std::path::Path;

use anyhow::Context as _;

use crate::engine::rego::{DEFAULT_TIME_LIMIT, prepared_engine, rego_files};

/// One test rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// `package.rule`.
    pub name: String,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
}

/// Line coverage of one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCoverage {
    /// The file.
    pub path: String,
    /// Lines the tests evaluated.
    pub covered: usize,
    /// Lines they did not, by number.
    pub uncovered: Vec<u32>,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct RegoTestReport {
    /// Every test rule, in file order.
    pub tests: Vec<TestOutcome>,
    /// Per-file coverage of the policies (tests excluded), when requested.
    pub coverage: Vec<FileCoverage>,
}

/// `(package, test rule names)` of one test file.
fn discover(text: &str) -> Option<(String, Vec<String>)> {
    let package = text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("package ")
            .map(|p| p.trim().to_owned())
    })?;
    let mut rules: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            name.starts_with("test_").then_some(name)
        })
        .collect();
    rules.dedup();
    Some((package, rules))
}

/// Runs every `test_*` rule of the `*_test.rego` files in `dir`.
///
/// # Errors
///
/// When a file cannot be read or a policy does not parse.
pub fn run(dir: &Path, coverage: bool) -> anyhow::Result<RegoTestReport> {
    let mut engine = prepared_engine(DEFAULT_TIME_LIMIT);
    let mut tests = Vec::new();
    for file in rego_files(dir, true)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        engine
            .add_policy(file.display().to_string(), text.clone())
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        if file.to_string_lossy().ends_with("_test.rego") {
            match discover(&text) {
                Some((package, rules)) => {
                    tests.extend(rules.into_iter().map(|r| (package.clone(), r)));
                }
                None => anyhow::bail!("{}: no package line", file.display()),
            }
        }
    }
    engine.set_enable_coverage(coverage);
    let mut report = RegoTestReport::default();
    for (package, rule) in tests {
        let outcome = match engine.eval_rule(format!("data.{package}.{rule}")) {
            Ok(regorus::Value::Bool(true)) => None,
            Ok(regorus::Value::Undefined) => Some("undefined (a condition failed)".to_owned()),
            Ok(other) => Some(format!("evaluated to {other}")),
            Err(e) => Some(format!("error: {e}")),
        };
        report.tests.push(TestOutcome {
            name: format!("{package}.{rule}"),
            failure: outcome,
        });
    }
    if coverage {
        let files = engine
            .get_coverage_report()
            .map_err(|e| anyhow::anyhow!("coverage report: {e}"))?
            .files;
        report.coverage = files
            .into_iter()
            .filter(|f| !f.path.ends_with("_test.rego"))
            .map(|f| FileCoverage {
                path: f.path,
                covered: f.covered.len(),
                uncovered: f.not_covered.into_iter().collect(),
            })
            .collect();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_package_and_test_rules() {
        let text = "package register_test\n\nimport data.register\n\ntest_short if {\n  true\n}\n\ntest_long if true\nhelper if true\n";
        assert_eq!(
            discover(text),
            Some((
                "register_test".to_owned(),
                vec!["test_short".to_owned(), "test_long".to_owned()]
            ))
        );
    }
}
