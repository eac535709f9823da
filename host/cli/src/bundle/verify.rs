//! `policy-test verify DIR`: is this the bundle `build` made, and does it work?
//!
//! Every check reports one line per problem and goes on, so one run names everything wrong:
//! - **digests**: every file `manifest.json` lists is there with its size and SHA-256; a
//!   missing, altered or extra file is named;
//! - **`policy.wasm`** has the shape MAS's loader needs ([`super::wasm_abi`]);
//! - **engines load the artifacts from DIR**, not the copies built into this binary: the `opa`
//!   engine runs `DIR/policy.wasm`, `component` runs `DIR/policy.component.wasm`, `rego` runs
//!   `DIR/rego/`, all beside `native`, on the fixture suites; the claims fixtures run on
//!   `DIR/claims.component.wasm` beside the native mapper;
//! - **`data.json`** loads, and `mas-config.yaml`'s `policy.data`, merged over MAS's base data,
//!   is exactly `data.json`; its providers' localpart templates are what `build` generates
//!   from that data; the ConfigMap carries the same `policy.wasm` and `mas-config.yaml`;
//! - **`bundle.tar.gz`** holds the same `data.json`, `policy.wasm` and Rego, and its
//!   `.manifest` names the same revision and, when it lists wasm entrypoints, MAS's five;
//! - **signatures**, with a verification key: `.signatures.json` of DIR and of the tarball
//!   cover every file with matching digests and a valid signature.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use claims_mapper::tenant_template;
use policy_rules::Entrypoint;
use serde_json::Value;

use super::{Manifest, files, mas_config, opa_bundle, read_tree, signing, wasm_abi};
use crate::{
    claims::{self, MapperEngine, component::ComponentMapper},
    engine::{Artifacts, Engine, by_name_from, compile_data, native::NativeEngine},
    runner,
};

/// What to check besides the files.
#[derive(Debug, Default)]
pub struct Options {
    /// Policy fixture suites to run on the bundle's engines.
    pub suites: Vec<PathBuf>,
    /// Claims fixture suites to run on the bundle's claims component.
    pub claims_suites: Vec<PathBuf>,
    /// Checks the signatures with this key.
    pub verification_key: Option<signing::VerificationKey>,
}

/// The result of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per problem.
    pub problems: Vec<String>,
    /// What was checked, one line each, for the summary.
    pub checked: Vec<String>,
}

impl Report {
    fn problem(&mut self, line: impl Into<String>) {
        self.problems.push(line.into());
    }
}

fn file<'f>(tree: &'f [(String, Vec<u8>)], name: &str) -> Option<&'f [u8]> {
    tree.iter()
        .find(|(p, _)| p == name)
        .map(|(_, b)| b.as_slice())
}

/// Verifies the bundle in `dir`.
///
/// # Errors
///
/// Only when `dir` cannot be read at all; every problem with its content is in the report.
pub fn verify(dir: &Path, options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let tree = read_tree(dir)?;
    let Some(manifest) = file(&tree, files::MANIFEST) else {
        report.problem(format!(
            "{}: missing; this is not a bundle",
            files::MANIFEST
        ));
        return Ok(report);
    };
    let manifest: Manifest = match serde_json::from_slice(manifest) {
        Ok(m) => m,
        Err(e) => {
            report.problem(format!("{}: invalid: {e}", files::MANIFEST));
            return Ok(report);
        }
    };
    digests(&tree, &manifest, &mut report);
    if let Some(wasm) = file(&tree, files::POLICY_WASM) {
        for problem in wasm_abi::check(wasm) {
            report.problem(problem);
        }
        report
            .checked
            .push("policy.wasm: OPA ABI 1.3, imports, two pages".to_owned());
    }
    let data = data(&tree, &manifest, &mut report);
    if let Some(data) = &data {
        mas_config_matches(&tree, data, &mut report);
    }
    configmap(&tree, &mut report);
    tarball(&tree, &manifest, &mut report);
    if let Some(key) = &options.verification_key {
        signatures(&tree, key, &mut report);
    }
    engines(dir, options, &mut report);
    Ok(report)
}

fn digests(tree: &[(String, Vec<u8>)], manifest: &Manifest, report: &mut Report) {
    for (path, entry) in &manifest.files {
        match file(tree, path) {
            None => report.problem(format!("{path}: missing")),
            Some(bytes) => {
                if bytes.len() as u64 != entry.size || opa_bundle::sha256_hex(bytes) != entry.sha256
                {
                    report.problem(format!(
                        "{path}: altered (its digest does not match manifest.json)"
                    ));
                }
            }
        }
    }
    for (path, _) in tree {
        let own = path == files::MANIFEST || path == files::SIGNATURES;
        if !own && !manifest.files.contains_key(path) {
            report.problem(format!("{path}: extra file, not in manifest.json"));
        }
    }
    report.checked.push(format!(
        "{} files against manifest.json",
        manifest.files.len()
    ));
}

/// `data.json`, parsed and loaded by the policy.
fn data(tree: &[(String, Vec<u8>)], manifest: &Manifest, report: &mut Report) -> Option<Value> {
    let bytes = file(tree, files::DATA)?;
    let data: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            report.problem(format!("data.json: invalid JSON: {e}"));
            return None;
        }
    };
    if let Err(e) = compile_data(&data) {
        report.problem(format!("data.json: {e}"));
        return None;
    }
    if data.get("server_name").and_then(Value::as_str) != Some(manifest.server_name.as_str()) {
        report.problem(format!(
            "data.json: server_name is not {} (manifest.json)",
            manifest.server_name
        ));
    }
    report.checked.push("data.json loads".to_owned());
    Some(data)
}

/// `mas-config.yaml` gives MAS exactly `data.json`, and the generated templates.
fn mas_config_matches(tree: &[(String, Vec<u8>)], data: &Value, report: &mut Report) {
    let Some(text) = file(tree, files::MAS_CONFIG) else {
        return;
    };
    let doc = match std::str::from_utf8(text)
        .map_err(|e| anyhow::anyhow!("mas-config.yaml: not UTF-8: {e}"))
        .and_then(mas_config::parse)
    {
        Ok(doc) => doc,
        Err(e) => return report.problem(e.to_string()),
    };
    let base = serde_json::json!({
        "server_name": data.get("server_name").cloned().unwrap_or(Value::Null),
        "session_limit": data.get("session_limit").cloned().unwrap_or(Value::Null),
    });
    let policy_data = doc
        .pointer("/policy/data")
        .cloned()
        .unwrap_or_else(crate::merge::empty);
    if doc.pointer("/matrix/homeserver") != data.get("server_name") {
        report.problem("mas-config.yaml: matrix.homeserver is not data.json's server_name");
    }
    match crate::merge::merge(base, policy_data) {
        Ok(merged) if &merged == data => {}
        Ok(_) => report.problem(
            "mas-config.yaml: policy.data, merged over MAS's base data, differs from data.json",
        ),
        Err(e) => report.problem(format!(
            "mas-config.yaml: policy.data cannot be merged: {e}"
        )),
    }
    let Ok(policy) = compile_data(data) else {
        return;
    };
    let providers = doc
        .pointer("/upstream_oauth2/providers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for provider in providers {
        let id = provider.get("id").and_then(Value::as_str).unwrap_or("?");
        let imports = provider
            .get("claims_imports")
            .cloned()
            .unwrap_or(Value::Null);
        let expected = tenant_template::apply(&imports, policy.tenants());
        let found = imports.pointer("/localpart/template");
        match expected {
            Ok((regenerated, _)) if regenerated.pointer("/localpart/template") == found => {}
            Ok(_) => report.problem(format!(
                "mas-config.yaml: provider {id}: the localpart template is not the one build generates from data.json"
            )),
            Err(e) => report.problem(format!("mas-config.yaml: provider {id}: {e}")),
        }
    }
    report.checked.push(format!(
        "mas-config.yaml: data equals data.json, {} provider templates",
        providers.len()
    ));
}

fn configmap(tree: &[(String, Vec<u8>)], report: &mut Report) {
    let Some(text) = file(tree, files::CONFIGMAP) else {
        return;
    };
    let doc: Value = match serde_norway::from_slice(text) {
        Ok(v) => v,
        Err(e) => return report.problem(format!("{}: invalid YAML: {e}", files::CONFIGMAP)),
    };
    let wasm = doc
        .pointer("/binaryData/policy.wasm")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    if wasm.as_deref() != file(tree, files::POLICY_WASM) {
        report.problem(format!(
            "{}: its policy.wasm differs from policy.wasm",
            files::CONFIGMAP
        ));
    }
    let config = doc.pointer("/data/mas-config.yaml").and_then(Value::as_str);
    if config.map(str::as_bytes) != file(tree, files::MAS_CONFIG) {
        report.problem(format!(
            "{}: its mas-config.yaml differs from mas-config.yaml",
            files::CONFIGMAP
        ));
    }
    report
        .checked
        .push("kubernetes/configmap.yaml carries the same files".to_owned());
}

fn tarball(tree: &[(String, Vec<u8>)], manifest: &Manifest, report: &mut Report) {
    let Some(bytes) = file(tree, files::TARBALL) else {
        return;
    };
    let entries = match opa_bundle::read_tar_gz(bytes) {
        Ok(e) => e,
        Err(e) => return report.problem(format!("bundle.tar.gz: {e}")),
    };
    for (path, bytes) in &entries {
        let same_as_dist = path == files::DATA
            || path == files::POLICY_WASM
            || path.starts_with(&format!("{}/", files::REGO_DIR));
        if same_as_dist {
            if file(tree, path) != Some(bytes.as_slice()) {
                report.problem(format!(
                    "bundle.tar.gz: {path} differs from the bundle's {path}"
                ));
            }
        } else if path != ".manifest" && path != files::SIGNATURES {
            report.problem(format!("bundle.tar.gz: unexpected file {path}"));
        }
    }
    // What the tarball must hold: the bundle's own (listed) data, module and Rego. A file
    // added to the folder afterwards is reported once, as an extra file.
    let listed = manifest.files.keys().filter(|p| {
        *p == files::DATA
            || *p == files::POLICY_WASM
            || p.starts_with(&format!("{}/", files::REGO_DIR))
    });
    for path in listed {
        if !entries.iter().any(|(p, _)| p == path) {
            report.problem(format!("bundle.tar.gz: {path} is missing"));
        }
    }
    let opa_manifest = entries
        .iter()
        .find(|(p, _)| p == ".manifest")
        .and_then(|(_, b)| serde_json::from_slice::<Value>(b).ok());
    match opa_manifest {
        None => report.problem("bundle.tar.gz: .manifest is missing or not JSON"),
        Some(m) => {
            if m.get("revision").and_then(Value::as_str) != Some(manifest.revision.as_str()) {
                report.problem("bundle.tar.gz: .manifest revision differs from manifest.json");
            }
            let mut wasm: Vec<&str> = m
                .get("wasm")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|w| w.get("entrypoint").and_then(Value::as_str))
                .collect();
            wasm.sort_unstable();
            let mut want: Vec<&str> = Entrypoint::ALL.iter().map(|e| e.name()).collect();
            want.sort_unstable();
            if !wasm.is_empty() && wasm != want {
                report.problem("bundle.tar.gz: .manifest wasm entrypoints are not MAS's five");
            }
        }
    }
    report
        .checked
        .push(format!("bundle.tar.gz: {} entries", entries.len()));
}

fn signatures(tree: &[(String, Vec<u8>)], key: &signing::VerificationKey, report: &mut Report) {
    let check = |files_: &[(String, Vec<u8>)], what: &str, report: &mut Report| {
        let Some(sig) = files_
            .iter()
            .find(|(p, _)| p == files::SIGNATURES)
            .map(|(_, b)| b.clone())
        else {
            return report.problem(format!("{what}: not signed (no .signatures.json)"));
        };
        let signed: Vec<(String, Vec<u8>)> = files_
            .iter()
            .filter(|(p, _)| p != files::SIGNATURES)
            .cloned()
            .collect();
        if let Err(problems) = signing::verify(&signed, &sig, key) {
            for p in problems {
                report.problem(format!("{what}: {p}"));
            }
        }
    };
    check(tree, "signature of the bundle", report);
    if let Some(bytes) = file(tree, files::TARBALL)
        && let Ok(entries) = opa_bundle::read_tar_gz(bytes)
    {
        check(&entries, "signature in bundle.tar.gz", report);
    }
    report.checked.push("signatures".to_owned());
}

/// Runs the fixture suites on engines loaded from `dir`.
fn engines(dir: &Path, options: &Options, report: &mut Report) {
    let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(NativeEngine)];
    let from_dir = Artifacts {
        bundle: Some(dir.to_owned()),
        wasm: None,
    };
    for (name, artifact) in [
        ("component", files::POLICY_COMPONENT),
        ("opa", files::POLICY_WASM),
        ("rego", files::REGO_DIR),
    ] {
        match by_name_from(name, &from_dir) {
            Ok(e) => engines.push(e),
            Err(e) => report.problem(format!("{artifact}: cannot be loaded: {e:#}")),
        }
    }
    let run = runner::run(&options.suites, &engines, |_| {});
    for case in &run.cases {
        if let Some(why) = &case.failure {
            let first = why.lines().next().unwrap_or_default();
            report.problem(format!("fixture {}: {first}", case.label));
        }
    }
    report.checked.push(format!(
        "{} fixture cases on {}",
        run.cases.len(),
        engines
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let component = std::fs::read(dir.join(files::CLAIMS_COMPONENT))
        .map_err(anyhow::Error::from)
        .and_then(|b| ComponentMapper::from_bytes(&b, claims::component::default_limits()));
    let mappers: Vec<Box<dyn MapperEngine>> = match component {
        Ok(c) => vec![Box::new(claims::NativeMapper), Box::new(c)],
        Err(e) => {
            report.problem(format!(
                "{}: cannot be loaded: {e:#}",
                files::CLAIMS_COMPONENT
            ));
            return;
        }
    };
    let mut cases = 0;
    for root in &options.claims_suites {
        let found = claims::fixtures::discover(root).and_then(|files| {
            files
                .iter()
                .map(|f| claims::fixtures::load(f))
                .collect::<Result<Vec<_>, _>>()
        });
        match found {
            Err(e) => report.problem(format!("claims fixtures: {e}")),
            Ok(suites) => {
                for case in suites.iter().flatten() {
                    cases += 1;
                    if let Some(why) = claims::fixtures::run_case(case, &mappers).failure {
                        let first = why.lines().next().unwrap_or_default();
                        report.problem(format!("claims fixture {}: {first}", case.label));
                    }
                }
            }
        }
    }
    report.checked.push(format!(
        "{cases} claims cases on native, {}",
        files::CLAIMS_COMPONENT
    ));
}
