//! `policy-test` as a deployment's CI runs it: the built binary, in a folder of its own outside
//! this repository, on the deployment's own suite and MAS config.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions; a panic is the failure report"
)]

use std::{path::PathBuf, process::Command};

const CONFIG: &str = r"
matrix:
  homeserver: matrix.openmeet.net
policy:
  data:
    registration:
      banned_usernames:
        literals: [root, admin]
    tenants:
      require_tenant: true
      by_id:
        lisbon: {localpart_prefix: lisbon.}
";

const SUITE: &str = r"
entrypoint: register/violation
cases:
  - name: a-marked-root-is-not-the-banned-literal
    input: {registration_method: password, username: lisbon.root}
    expect_codes: []
  - name: bare-root-is-banned
    input: {registration_method: password, username: root}
    expect_codes: [tenant-unknown, username-banned]
  - name: lisbon-ana-may-register
    input: {registration_method: upstream-oauth2, username: lisbon.ana}
    expect: []
";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn policy_test(dir: &PathBuf, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_policy-test"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap(), text)
}

#[test]
fn a_deployment_suite_runs_on_its_config_with_no_self_checks() {
    let dir = scratch("suite");
    std::fs::write(dir.join("mas.yaml"), CONFIG).unwrap();
    std::fs::write(dir.join("suite.yaml"), SUITE).unwrap();
    let (code, out) = policy_test(
        &dir,
        &[
            "test",
            "suite.yaml",
            "--config",
            "mas.yaml",
            "--junit",
            "report.xml",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "engines: native, component, opa, rego",
            "ok   suite.yaml::a-marked-root-is-not-the-banned-literal",
            "ok   suite.yaml::bare-root-is-banned",
            "ok   suite.yaml::lisbon-ana-may-register",
            "3 passed, 0 failed",
        ]
    );
    let junit = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(junit.contains(r#"tests="3" failures="0""#), "{junit}");
    assert!(
        !junit.contains("coverage") && !junit.contains("rego"),
        "{junit}"
    );

    // Without the config the same suite fails: the cases test the deployment, not the defaults.
    let (code, out) = policy_test(&dir, &["test", "suite.yaml", "--engine", "native"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL suite.yaml::bare-root-is-banned"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn self_check_flags_need_self_check() {
    let dir = scratch("flags");
    std::fs::write(dir.join("suite.yaml"), SUITE).unwrap();
    let (code, out) = policy_test(&dir, &["test", "suite.yaml", "--min-coverage", "100"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        out.trim(),
        "error: --coverage, --min-coverage and --catalogue are self-checks: add --self-check"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// This project's suites on a module that is not ours (the do-nothing module of the benches,
/// which allows everything): every failure is attributed to its case, and the cases that need
/// an extension or document a decision are counted apart.
#[test]
fn a_foreign_module_gets_its_differences_attributed() {
    let dir = scratch("foreign");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cases = root.join("tests/cases");
    let module = root.join("benches/null_policy.wat");
    let (code, out) = policy_test(
        &dir,
        &[
            "test",
            cases.to_str().unwrap(),
            "--engine",
            "opa",
            "--wasm",
            module.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("differences: "))
        .unwrap_or_else(|| panic!("no differences line in\n{out}"));
    assert!(
        summary.contains("cases need an extension MAS does not have (mxid-admins: 2, tenants: "),
        "{summary}"
    );
    assert!(summary.contains("D5: "), "{summary}");
    // An all-numeric username that an allow-all module lets through is an unexplained
    // difference,
    // named by its case.
    assert!(
        out.lines()
            .any(|l| l.starts_with("     other: ") && l.ends_with("register.yaml::r3-all-numeric")),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `policy-test bench` prints the floor, every engine × entrypoint in both modes with its
/// ratios, and the scaling table, in one run.
#[test]
fn bench_reports_the_floor_the_ratios_and_the_scaling_table() {
    let dir = scratch("bench");
    let (code, out) = policy_test(
        &dir,
        &[
            "bench",
            "--engine",
            "native,opa",
            "--time-per-case-ms",
            "0",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["floor"]["median_ns"].as_u64().unwrap() > 0);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 5 * 2);
    let opa_per_request = rows
        .iter()
        .find(|r| r["engine"] == "opa" && r["mode"] == "per request")
        .unwrap();
    assert!(opa_per_request["to_floor"].as_f64().unwrap() > 0.0);
    assert!(opa_per_request["to_native"].as_f64().unwrap() > 0.0);
    let scaling = report["scaling"].as_array().unwrap();
    assert_eq!(scaling.len(), 2 * 3 * 3);
    assert!(
        scaling
            .iter()
            .any(|r| r["shape"] == "many short strings" && r["bytes"].as_u64().unwrap() > 1_000_000)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `policy-test bench --module` times another OPA-ABI module beside ours, in both modes and in
/// the phase table, with the size of its data segments; a file it cannot use is named.
#[test]
fn bench_times_a_given_module_beside_ours() {
    let dir = scratch("bench-module");
    // The module: ours, as the bundle ships it.
    let (code, out) = policy_test(&dir, &["build", "--server-name", "example.com"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = policy_test(
        &dir,
        &[
            "bench",
            "--engine",
            "opa",
            "--module",
            "dist/policy.wasm",
            "--time-per-case-ms",
            "0",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = report["rows"].as_array().unwrap();
    for mode in ["per request", "warm"] {
        let timed = rows
            .iter()
            .filter(|r| r["engine"] == "module" && r["mode"] == mode)
            .count();
        assert_eq!(timed, 5, "{mode}");
    }
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(
        phases.iter().filter(|r| r["engine"] == "module").count(),
        5 + 2
    );
    let segments = report["module_data_segment_bytes"].as_u64().unwrap();
    assert!(segments > 10_000, "{segments}");
    assert_eq!(report["data_segment_bytes"], segments);

    std::fs::write(dir.join("not.wasm"), "not a module").unwrap();
    for (file, expected) in [
        ("missing.wasm", "cannot read missing.wasm"),
        ("not.wasm", "not.wasm: not a WebAssembly binary"),
    ] {
        let (code, out) = policy_test(&dir, &["bench", "--engine", "opa", "--module", file]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(expected), "{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
