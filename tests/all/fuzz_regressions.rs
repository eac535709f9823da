//! The fuzz targets' checks (`policy_test::fuzz`) on the stable toolchain: every fixture case as
//! a seed, and every saved finding under `tests/fuzz/regressions/<target>/`, through the check of
//! its target. A finding that comes back fails here, without cargo-fuzz or nightly.

use std::path::{Path, PathBuf};

use policy_test::{
    fixtures,
    fuzz::{Case, ClaimsCheck, EngineCheck, check_json, check_loader, encode},
};

/// The compiled engines the `engines` and `claims` checks run on.
struct Checks {
    engines: EngineCheck,
    claims: ClaimsCheck,
}

impl Checks {
    fn new() -> Self {
        Checks {
            engines: EngineCheck::new().unwrap(),
            claims: ClaimsCheck::new().unwrap(),
        }
    }
}

/// The targets, each with its check.
fn check(target: &str, checks: &Checks, bytes: &[u8]) -> Result<(), String> {
    match target {
        "json" => Case::parse(bytes).map_or(Ok(()), |case| {
            [Some(case.data), case.input]
                .into_iter()
                .flatten()
                .try_for_each(check_json)
        }),
        "loader" => check_loader(bytes),
        "engines" => checks.engines.check(bytes),
        "claims" => checks.claims.check(bytes),
        other => Err(format!("no fuzz target is named {other}")),
    }
}

const TARGETS: [&str; 4] = ["json", "loader", "engines", "claims"];

/// The targets whose seeds are policy fixture cases (the claims fixtures already run on both
/// claims engines in `claims.rs`).
const POLICY_TARGETS: [&str; 3] = ["json", "loader", "engines"];

/// Every fixture case, encoded as `policy-test export --fuzz-seeds` writes it.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut seeds = Vec::new();
    for file in fixtures::discover(&cases).unwrap() {
        let suite = fixtures::load(&file).unwrap();
        for case in suite.cases {
            seeds.push((
                format!("{}::{}", file.display(), case.name),
                encode(suite.entrypoint, &case.data, case.input.as_ref()),
            ));
        }
    }
    seeds
}

#[test]
fn every_fixture_passes_every_fuzz_check() {
    let checks = Checks::new();
    let seeds = seeds();
    assert!(seeds.len() > 500, "the fixtures were not found");
    let mut failures = Vec::new();
    for (label, bytes) in &seeds {
        for target in POLICY_TARGETS {
            if let Err(report) = check(target, &checks, bytes) {
                failures.push(format!("{target} on {label}: {report}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Saved findings: `tests/fuzz/regressions/<target>/<file>`, each run through its target.
#[test]
fn every_saved_finding_stays_fixed() {
    let checks = Checks::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            replayed += 1;
            if let Err(report) = check(target, &checks, &bytes) {
                failures.push(format!("{}: {report}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("replayed {replayed} saved fuzz findings");
}
