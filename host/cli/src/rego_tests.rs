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

/// A file's name in reports: relative to the working directory when it is inside it.
fn display_name(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or(path)
        .display()
        .to_string()
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
        // regorus names the file so in its errors and in the coverage report.
        engine
            .add_policy(display_name(&file), text.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
    fn reports_each_test_and_the_lines_no_test_reached() {
        let dir = std::env::temp_dir().join(format!("rego-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("p.rego"),
            "package p\n\nallow if input.x == 1\n\nnext(x) := y if {\n\ty := x + 1\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("p_test.rego"),
            "package p_test\n\nimport data.p\n\ntest_allow if p.allow with input as {\"x\": 1}\n\ntest_fails if p.allow with input as {\"x\": 2}\n",
        )
        .unwrap();
        let report = run(&dir, true);
        std::fs::remove_dir_all(&dir).unwrap();
        let report = report.unwrap();
        assert_eq!(
            report.tests,
            vec![
                TestOutcome {
                    name: "p_test.test_allow".to_owned(),
                    failure: None
                },
                TestOutcome {
                    name: "p_test.test_fails".to_owned(),
                    failure: Some("undefined (a condition failed)".to_owned())
                },
            ]
        );
        assert_eq!(report.coverage.len(), 1, "{:?}", report.coverage);
        let file = &report.coverage[0];
        assert!(file.path.ends_with("p.rego"), "{file:?}");
        assert!(file.covered > 0, "{file:?}");
        assert!(file.uncovered.contains(&6), "{file:?}");
        assert!(!file.uncovered.contains(&3), "{file:?}");
    }

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
