//! What `policy-test test` reports, in its three forms: pretty text for people (the fixture
//! cases streamed as they end), one JSON document for tools, and JUnit XML for CI dashboards.
//!
//! A run has three parts: the fixture cases (every engine, cross-checked), and this project's
//! self-checks: the coverage of the contract's violation catalogue by passing cases, and the
//! Rego twin's own `test_*` rules with their line coverage. A deployment's own suites run
//! without the self-checks, and the report then holds the cases alone. Each part counts into
//! the verdict; [`TestRun::success`] is the exit status.

use std::{fmt::Write as _, io};

use serde_json::{Value, json};

use crate::{
    rego_tests::{FileCoverage, RegoTestReport},
    runner::{CaseReport, RunReport},
};

/// How many of the contract's violation objects passing fixture cases produced.
#[derive(Debug, Clone)]
pub struct ViolationCoverage {
    /// Catalogue entries produced.
    pub covered: usize,
    /// Catalogue entries.
    pub total: usize,
    /// The ids of the entries no passing case produced.
    pub uncovered: Vec<String>,
    /// The percentage below which the run fails (`--min-coverage`).
    pub min_percent: f64,
}

impl ViolationCoverage {
    /// The covered share, in percent (100 for an empty catalogue).
    pub fn percent(&self) -> f64 {
        percent(self.covered, self.total)
    }

    /// Whether the coverage meets the minimum.
    pub fn ok(&self) -> bool {
        self.percent() >= self.min_percent
    }
}

/// Everything one `policy-test test` run found.
#[derive(Debug)]
pub struct TestRun {
    /// The engines the fixtures ran on.
    pub engines: Vec<String>,
    /// The fixture cases.
    pub fixtures: RunReport,
    /// The violation catalogue's coverage; `None` without the self-checks.
    pub violations: Option<ViolationCoverage>,
    /// The Rego twin's tests; `None` when the `rego` engine was not selected.
    pub rego: Option<RegoTestReport>,
}

impl TestRun {
    /// Rego tests that failed.
    pub fn rego_failed(&self) -> usize {
        self.rego.as_ref().map_or(0, |r| {
            r.tests.iter().filter(|t| t.failure.is_some()).count()
        })
    }

    /// Rego tests that passed.
    pub fn rego_passed(&self) -> usize {
        self.rego
            .as_ref()
            .map_or(0, |r| r.tests.len() - self.rego_failed())
    }

    /// Fixture cases and Rego tests that passed.
    pub fn passed(&self) -> usize {
        self.fixtures.passed() + self.rego_passed()
    }

    /// Fixture cases and Rego tests that failed.
    pub fn failed(&self) -> usize {
        self.fixtures.failed() + self.rego_failed()
    }

    /// Nothing failed and the violation catalogue is covered enough.
    pub fn success(&self) -> bool {
        self.failed() == 0 && self.violations.as_ref().is_none_or(ViolationCoverage::ok)
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "percentages of at most a few thousand items"
)]
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Sorted line numbers as ranges: `3-5, 9, 12-13`.
pub fn line_ranges(lines: &[u32]) -> String {
    let mut out = String::new();
    let mut iter = lines.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
    }
    out
}

fn file_percent(file: &FileCoverage) -> f64 {
    percent(file.covered, file.covered + file.uncovered.len())
}

// ---------------------------------------------------------------------------------------------
// Pretty
// ---------------------------------------------------------------------------------------------

/// One fixture case as it ends: `ok   label`, or `FAIL label` and the findings indented.
///
/// # Errors
///
/// When writing fails.
pub fn pretty_case(out: &mut impl io::Write, case: &CaseReport) -> io::Result<()> {
    match &case.failure {
        None => writeln!(out, "ok   {}", case.label),
        Some(why) => {
            writeln!(out, "FAIL {}", case.label)?;
            for line in why.lines() {
                writeln!(out, "     {line}")?;
            }
            Ok(())
        }
    }
}

/// The failed cases by why they may fail on a policy that is not this project's: the
/// extensions MAS lacks, the decisions where this project differs, and the rest. Empty when
/// no failed case carries a marker (every failure is then simply a failure).
pub fn differences(run: &TestRun) -> Vec<String> {
    use std::collections::BTreeMap;

    use crate::runner::Marker;
    let failed: Vec<&CaseReport> = run
        .fixtures
        .cases
        .iter()
        .filter(|c| c.failure.is_some())
        .collect();
    if failed.iter().all(|c| c.marker.is_none()) {
        return Vec::new();
    }
    let mut extensions: BTreeMap<&str, usize> = BTreeMap::new();
    let mut decisions: BTreeMap<&str, usize> = BTreeMap::new();
    let mut others = Vec::new();
    for case in &failed {
        match &case.marker {
            Some(Marker::Extension(name)) => *extensions.entry(name).or_default() += 1,
            Some(Marker::Decision(id)) => *decisions.entry(id).or_default() += 1,
            None => others.push(case.label.as_str()),
        }
    }
    let counts = |m: &BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![format!(
        "differences: {} cases need an extension MAS does not have ({}); {} cases document a decision where this project differs ({}); {} other cases fail",
        extensions.values().sum::<usize>(),
        counts(&extensions),
        decisions.values().sum::<usize>(),
        counts(&decisions),
        others.len()
    )];
    lines.extend(others.iter().map(|l| format!("     other: {l}")));
    lines
}

/// Everything after the fixture cases: the catalogue coverage, the Rego tests and their line
/// coverage (when collected), and the totals.
///
/// # Errors
///
/// When writing fails.
pub fn pretty_summary(out: &mut impl io::Write, run: &TestRun) -> io::Result<()> {
    for line in differences(run) {
        writeln!(out, "{line}")?;
    }
    if let Some(v) = &run.violations {
        writeln!(
            out,
            "coverage: {}/{} contract violations produced by passing cases ({:.0}%)",
            v.covered,
            v.total,
            v.percent()
        )?;
        for id in &v.uncovered {
            writeln!(out, "     not covered: {id}")?;
        }
        if !v.ok() {
            writeln!(
                out,
                "coverage {:.0}% is below --min-coverage {}",
                v.percent(),
                v.min_percent
            )?;
        }
    }
    if let Some(rego) = &run.rego {
        for test in &rego.tests {
            match &test.failure {
                None => writeln!(out, "ok   rego {}", test.name)?,
                Some(why) => {
                    writeln!(out, "FAIL rego {}", test.name)?;
                    for line in why.lines() {
                        writeln!(out, "     {line}")?;
                    }
                }
            }
        }
        if !rego.coverage.is_empty() {
            writeln!(out, "rego line coverage:")?;
            for file in &rego.coverage {
                write!(
                    out,
                    "  {} {:.0}% ({}/{})",
                    file.path,
                    file_percent(file),
                    file.covered,
                    file.covered + file.uncovered.len()
                )?;
                if file.uncovered.is_empty() {
                    writeln!(out)?;
                } else {
                    writeln!(out, "; not covered: {}", line_ranges(&file.uncovered))?;
                }
            }
        }
        writeln!(
            out,
            "fixtures: {} passed, {} failed; rego tests: {} passed, {} failed",
            run.fixtures.passed(),
            run.fixtures.failed(),
            run.rego_passed(),
            run.rego_failed()
        )?;
    }
    writeln!(out, "{} passed, {} failed", run.passed(), run.failed())
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// The whole run as one JSON document.
pub fn json(run: &TestRun) -> Value {
    let cases: Vec<Value> = run
        .fixtures
        .cases
        .iter()
        .map(|c| outcome(&c.label, c.failure.as_deref()))
        .collect();
    let mut doc = json!({
        "engines": run.engines,
        "fixtures": cases,
        "passed": run.passed(),
        "failed": run.failed(),
        "success": run.success(),
    });
    let differences = differences(run);
    if !differences.is_empty() {
        doc["differences"] = Value::from(differences);
    }
    if let Some(v) = &run.violations {
        doc["violation_coverage"] = json!({
            "covered": v.covered,
            "total": v.total,
            "percent": v.percent(),
            "min_percent": v.min_percent,
            "uncovered": v.uncovered,
            "ok": v.ok(),
        });
    }
    if let Some(rego) = &run.rego {
        doc["rego_tests"] = rego
            .tests
            .iter()
            .map(|t| outcome(&t.name, t.failure.as_deref()))
            .collect();
        if !rego.coverage.is_empty() {
            doc["rego_line_coverage"] = rego
                .coverage
                .iter()
                .map(|f| {
                    json!({
                        "file": f.path,
                        "covered": f.covered,
                        "lines": f.covered + f.uncovered.len(),
                        "percent": file_percent(f),
                        "uncovered": f.uncovered,
                    })
                })
                .collect();
        }
    }
    doc
}

fn outcome(name: &str, failure: Option<&str>) -> Value {
    match failure {
        None => json!({"name": name, "passed": true}),
        Some(why) => json!({"name": name, "passed": false, "failure": why}),
    }
}

// ---------------------------------------------------------------------------------------------
// JUnit
// ---------------------------------------------------------------------------------------------

/// Text as XML character data or an attribute value: markup escaped, and the characters XML
/// 1.0 cannot carry (control characters from generated inputs) written as `\u{…}`.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn junit_case(out: &mut String, class: &str, name: &str, failure: Option<&str>) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        xml(class),
        xml(name)
    );
    match failure {
        None => out.push_str("/>\n"),
        Some(why) => {
            let first = why.lines().next().unwrap_or_default();
            let _ = write!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml(first),
                xml(why)
            );
        }
    }
}

fn junit_suite(out: &mut String, name: &str, cases: &[(String, String, Option<String>)]) {
    let failures = cases.iter().filter(|(_, _, f)| f.is_some()).count();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
        xml(name),
        cases.len()
    );
    for (class, case, failure) in cases {
        junit_case(out, class, case, failure.as_deref());
    }
    out.push_str("  </testsuite>\n");
}

/// The run as JUnit XML: a `fixtures` suite (class = fixture file), a `rego` suite (class =
/// test package) and a `coverage` suite whose one case fails below `--min-coverage`.
pub fn junit(run: &TestRun) -> String {
    let fixtures: Vec<(String, String, Option<String>)> = run
        .fixtures
        .cases
        .iter()
        .map(|c| {
            let (file, case) = c.label.split_once("::").unwrap_or((&c.label, ""));
            (file.to_owned(), case.to_owned(), c.failure.clone())
        })
        .collect();
    let rego: Vec<(String, String, Option<String>)> = run
        .rego
        .iter()
        .flat_map(|r| &r.tests)
        .map(|t| {
            let (package, rule) = t.name.rsplit_once('.').unwrap_or(("", &t.name));
            (package.to_owned(), rule.to_owned(), t.failure.clone())
        })
        .collect();
    let coverage: Vec<(String, String, Option<String>)> = run
        .violations
        .iter()
        .map(|v| {
            (
                "violation_catalogue".to_owned(),
                "min_coverage".to_owned(),
                (!v.ok()).then(|| {
                    format!(
                        "coverage {:.0}% is below --min-coverage {}; not covered: {}",
                        v.percent(),
                        v.min_percent,
                        v.uncovered.join(", ")
                    )
                }),
            )
        })
        .collect();
    let total = fixtures.len() + rego.len() + coverage.len();
    let failures = [&fixtures, &rego, &coverage]
        .iter()
        .flat_map(|s| s.iter())
        .filter(|(_, _, f)| f.is_some())
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"policy-test\" tests=\"{total}\" failures=\"{failures}\">"
    );
    junit_suite(&mut out, "fixtures", &fixtures);
    if run.rego.is_some() {
        junit_suite(&mut out, "rego", &rego);
    }
    if run.violations.is_some() {
        junit_suite(&mut out, "coverage", &coverage);
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rego_tests::TestOutcome;

    fn run() -> TestRun {
        TestRun {
            engines: vec!["native".to_owned(), "rego".to_owned()],
            fixtures: RunReport {
                cases: vec![
                    CaseReport {
                        label: "tests/cases/a.yaml::good".to_owned(),
                        failure: None,
                        marker: None,
                        violations: Vec::new(),
                    },
                    CaseReport {
                        label: "tests/cases/a.yaml::bad <one>".to_owned(),
                        failure: Some("engines disagree:\n  native: [\"a&b\u{7}\"]".to_owned()),
                        marker: None,
                        violations: Vec::new(),
                    },
                ],
            },
            violations: Some(ViolationCoverage {
                covered: 3,
                total: 4,
                uncovered: vec!["R7".to_owned()],
                min_percent: 100.0,
            }),
            rego: Some(RegoTestReport {
                tests: vec![
                    TestOutcome {
                        name: "register_test.test_ok".to_owned(),
                        failure: None,
                    },
                    TestOutcome {
                        name: "register_test.test_bad".to_owned(),
                        failure: Some("undefined (a condition failed)".to_owned()),
                    },
                ],
                coverage: vec![FileCoverage {
                    path: "policies/rego/register.rego".to_owned(),
                    covered: 6,
                    uncovered: vec![3, 4, 5, 9],
                }],
            }),
        }
    }

    #[test]
    fn line_ranges_join_consecutive_lines() {
        assert_eq!(line_ranges(&[]), "");
        assert_eq!(line_ranges(&[7]), "7");
        assert_eq!(line_ranges(&[3, 4, 5, 9, 12, 13]), "3-5, 9, 12-13");
    }

    #[test]
    fn counts_fixtures_rego_tests_and_coverage() {
        let mut run = run();
        assert_eq!((run.passed(), run.failed()), (2, 2));
        assert!(!run.success());
        run.fixtures.cases.pop();
        run.rego.as_mut().unwrap().tests.pop();
        assert!(!run.success(), "coverage 75% is below 100");
        run.violations.as_mut().unwrap().min_percent = 75.0;
        assert!(run.success());
    }

    #[test]
    fn pretty_lists_rego_tests_and_uncovered_ranges() {
        let mut out = Vec::new();
        pretty_summary(&mut out, &run()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("ok   rego register_test.test_ok\n"), "{text}");
        assert!(
            text.contains("FAIL rego register_test.test_bad\n     undefined"),
            "{text}"
        );
        assert!(
            text.contains("  policies/rego/register.rego 60% (6/10); not covered: 3-5, 9\n"),
            "{text}"
        );
        assert!(
            text.contains("coverage 75% is below --min-coverage 100"),
            "{text}"
        );
        assert!(text.ends_with("2 passed, 2 failed\n"), "{text}");
    }

    #[test]
    fn json_holds_every_part() {
        let doc = json(&run());
        assert_eq!(doc["fixtures"][1]["passed"], json!(false));
        assert_eq!(
            doc["rego_tests"][1]["name"],
            json!("register_test.test_bad")
        );
        assert_eq!(
            doc["rego_line_coverage"][0]["uncovered"],
            json!([3, 4, 5, 9])
        );
        assert_eq!(doc["violation_coverage"]["ok"], json!(false));
        assert_eq!(doc["success"], json!(false));
    }

    #[test]
    fn junit_escapes_and_counts() {
        let xml = junit(&run());
        assert!(
            xml.contains(r#"<testsuites name="policy-test" tests="5" failures="3">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="fixtures" tests="2" failures="1">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase classname="tests/cases/a.yaml" name="bad &lt;one&gt;">"#),
            "{xml}"
        );
        assert!(xml.contains(r"[&quot;a&amp;b\u{7}&quot;]"), "{xml}");
        assert!(
            xml.contains(r#"<testcase classname="register_test" name="test_bad">"#),
            "{xml}"
        );
        assert!(!xml.contains('\u{7}'), "{xml}");
    }
}
