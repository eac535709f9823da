//! Every fixture suite under `tests/cases`, on every engine, cross-checked.

use std::path::PathBuf;

use policy_test::{coverage::Coverage, engine, fixtures, merge, runner};
use serde_json::json;

#[test]
fn every_fixture_passes_and_engines_agree() {
    let cases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases");
    let engines = ["native", "component", "opa", "rego"]
        .into_iter()
        .map(|name| engine::by_name(name).unwrap())
        .collect::<Vec<_>>();
    let report = runner::run(std::slice::from_ref(&cases), &engines, |_| {});
    let failures: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| c.failure.as_ref().map(|why| format!("{}\n{why}", c.label)))
        .collect();
    assert!(report.passed() > 0, "no fixture ran");
    let mut coverage = Coverage::load(&cases.with_file_name("violations.yaml")).unwrap();
    for case in &report.cases {
        coverage.observe(&case.violations);
    }
    assert_eq!(
        coverage.uncovered(),
        Vec::<&str>::new(),
        "contract violations that no passing fixture produces"
    );
    assert!(
        failures.is_empty(),
        "{} fixture cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Extensions §1: a deployment that sets no tenants gets exactly MAS's behaviour. Every
/// fixture outside the tenant suites must decide the same, on every engine, with an empty
/// `tenants` key merged into its data as without one.
#[test]
fn an_empty_tenants_key_changes_no_decision() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases");
    let engines = ["native", "component", "opa", "rego"]
        .into_iter()
        .map(|name| engine::by_name(name).unwrap())
        .collect::<Vec<_>>();
    let variants = [
        json!({"tenants": {}}),
        json!({"tenants": {"require_tenant": false, "by_id": {}}}),
    ];
    let mut compared = 0;
    for path in fixtures::discover(&dir).unwrap() {
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tenants_")
        {
            continue;
        }
        let suite = fixtures::load(&path).unwrap();
        for case in &suite.cases {
            for engine in &engines {
                let decide = |data: &serde_json::Value| {
                    engine
                        .load(data)
                        .and_then(|mut p| p.evaluate(suite.entrypoint, case.input.as_ref()))
                };
                let without = decide(&case.data);
                for extra in &variants {
                    let data = merge::merge(case.data.clone(), extra.clone()).unwrap();
                    assert_eq!(
                        decide(&data),
                        without,
                        "{}::{} on {} with {extra}",
                        path.display(),
                        case.name,
                        engine.name()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 4000, "only {compared} comparisons ran");
}

#[test]
fn a_broken_case_is_reported_and_the_rest_still_run() {
    let dir = std::env::temp_dir().join(format!("policy-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        "entrypoint: email/violation\ncases:\n  - name: good\n    input: {email: a@b.c}\n    expect: []\n  - name: typo\n    inptu: {}\n    expect: []\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.yaml"), "entrypoint: [unclosed\n").unwrap();
    let engines = vec![engine::by_name("native").unwrap()];
    let report = runner::run(std::slice::from_ref(&dir), &engines, |_| {});
    std::fs::remove_dir_all(&dir).unwrap();

    let find = |suffix: &str| {
        report
            .cases
            .iter()
            .find(|c| c.label.ends_with(suffix))
            .unwrap_or_else(|| panic!("no report for {suffix}: {report:?}"))
    };
    assert!(find("a.yaml::good").failure.is_none());
    let typo = find("a.yaml::typo").failure.as_deref().unwrap();
    assert!(typo.contains("unknown field `inptu`"), "{typo}");
    let broken = find("b.yaml").failure.as_deref().unwrap();
    assert!(broken.contains("b.yaml"), "{broken}");
    assert_eq!(report.failed(), 2);
}

#[test]
fn the_rego_twins_own_tests_pass_with_coverage() {
    let report = policy_test::rego_tests::run(&engine::rego::default_policy_dir(), true).unwrap();
    assert!(
        report.tests.len() > 10,
        "too few rego tests: {}",
        report.tests.len()
    );
    let failed: Vec<_> = report
        .tests
        .iter()
        .filter(|t| t.failure.is_some())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(!report.coverage.is_empty(), "no coverage report");
    assert!(
        report.coverage.iter().all(|f| f.covered > 0),
        "{:?}",
        report.coverage
    );
}
