//! The bundle: `build` on OpenMeet's config (`tests/bundle/openmeet.yaml`), the generated
//! template rendered as MAS renders it, reproducibility, and `verify` on a fresh bundle and on
//! tampered ones, with and without signatures.

use std::path::{Path, PathBuf};

use claims_mapper::{Claims, Mapper, Outcome, env::Template};
use policy_test::{
    bundle::{self, build, read_tree, signing, verify},
    claims::{
        mas_config::{self, MasConfig},
        migrate::{self, Columns, InputFormat, ReportFormat},
    },
};
use serde_json::{Value, json};

const PROVIDER: &str = "01JAYS74TCG3BTWKADN5Q4518C";

fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/openmeet.yaml")
}

fn openmeet() -> build::Bundle {
    build::build(&build::Options::new(Some(config_path()))).unwrap()
}

fn file<'b>(bundle: &'b build::Bundle, name: &str) -> &'b [u8] {
    &bundle.files.iter().find(|(p, _)| p == name).unwrap().1
}

/// A fresh folder under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-bundle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn generated_config(bundle: &build::Bundle) -> MasConfig {
    let text = std::str::from_utf8(file(bundle, "mas-config.yaml")).unwrap();
    MasConfig::from_value(
        "dist/mas-config.yaml",
        bundle::mas_config::parse(text).unwrap(),
    )
}

/// One login per tenant, an unknown tenant and a missing claim, through the generated
/// template as MAS renders it, then through `migrate` on the same config: the MXIDs agree, and
/// no unmarked account is made.
#[test]
fn openmeet_logins_get_the_mxids_migrate_reports() {
    let bundle = openmeet();
    let config = generated_config(&bundle);
    let imports = config.claims_imports(PROVIDER).unwrap();
    let template = imports["localpart"]["template"].as_str().unwrap();

    // MAS's environment, the template exactly as written into mas-config.yaml.
    let render = |user: Value| {
        Template::new(template)
            .render(&minijinja::Value::from_serialize(json!({ "user": user })))
            .unwrap()
    };
    let logins = [
        ("u1", "Ana", "lisbon-tech", "lisbon-tech.ana"),
        ("u2", "Bob", "hikers", "hikers.bob"),
        ("u3", "Carol", "acme", "acme.carol"),
    ];
    for (_, slug, tenant, want) in logins {
        assert_eq!(
            render(json!({"preferred_username": slug, "tenant_id": tenant})),
            want
        );
    }
    assert_eq!(render(json!({"preferred_username": "Dan"})), "");

    let csv = "id,slug,email,tenant_id\n\
               u1,Ana,ana@lisbontech.pt,lisbon-tech\n\
               u2,Bob,bob@example.org,hikers\n\
               u3,Carol,carol@example.org,acme\n\
               u4,Dan,dan@example.org,\n";
    let data =
        mas_config::assemble(config.base_data().unwrap(), config.policy_data(), None).unwrap();
    let mapper = Mapper::load(&imports, &data).unwrap();
    let mut out = Vec::new();
    migrate::run(
        csv.as_bytes(),
        InputFormat::Csv,
        &Columns::default(),
        &mapper,
        ReportFormat::Json,
        &mut out,
        |_| {},
    )
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mxids: Vec<&Value> = lines.iter().take(4).map(|l| &l["mxid"]).collect();
    assert_eq!(
        mxids,
        [
            &json!("@lisbon-tech.ana:matrix.openmeet.net"),
            &json!("@hikers.bob:matrix.openmeet.net"),
            &json!("@acme.carol:matrix.openmeet.net"),
            &Value::Null,
        ]
    );
    let outcomes: Vec<&str> = lines
        .iter()
        .take(4)
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["accepted", "error", "error", "error"]);
    assert_eq!(lines[1]["codes"], json!(["tenant-registration-closed"]));
    // The unknown tenant is refused by the policy, the missing claim by MAS's required check.
    assert_eq!(lines[2]["codes"], json!(["tenant-unknown"]));
    assert_eq!(
        lines[3]["description"],
        "required attribute localpart rendered empty"
    );

    // The same login mapped directly gives what MAS shows.
    let mapping = mapper.map(&Claims::from_json(&json!({"id_token_claims": {"sub": "u1", "preferred_username": "Ana", "tenant_id": "lisbon-tech"}})).unwrap());
    assert_eq!(mapping.outcome, Outcome::Accepted);
    assert_eq!(mapping.tenant.as_deref(), Some("lisbon-tech"));
}

#[test]
fn the_operator_template_alone_locks_tenants_out_and_lint_says_so() {
    let config = MasConfig::load(&config_path()).unwrap();
    let data =
        mas_config::assemble(config.base_data().unwrap(), config.policy_data(), None).unwrap();
    let findings: Vec<String> = policy_test::lint::tenant_safety::lint(&config, &data)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        findings,
        [format!(
            "error: provider {PROVIDER}: the localpart template does not produce the tenant markers: \
             users of hikers, lisbon-tech would be locked out; use the template `policy-test build` \
             writes into mas-config.yaml"
        )]
    );
    // And the generated config is clean.
    let generated = generated_config(&openmeet());
    assert!(policy_test::lint::tenant_safety::lint(&generated, &data).is_empty());
}

#[test]
fn builds_are_byte_identical_and_time_comes_only_from_source_date_epoch() {
    let a = openmeet();
    let b = openmeet();
    assert_eq!(a.files, b.files);
    let mut options = build::Options::new(Some(config_path()));
    options.mtime = 1_700_000_000;
    let c = build::build(&options).unwrap();
    for ((pa, ba), (pc, bc)) in a.files.iter().zip(&c.files) {
        assert_eq!(pa, pc);
        let differs = ba != bc;
        assert_eq!(
            differs,
            pa == "bundle.tar.gz" || pa == "manifest.json",
            "{pa} changed with SOURCE_DATE_EPOCH: {differs}"
        );
    }
    let names: Vec<&str> = a.files.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "bundle.tar.gz",
        "claims.component.wasm",
        "data.json",
        "kubernetes/configmap.yaml",
        "kubernetes/deployment-patch.yaml",
        "manifest.json",
        "mas-config.yaml",
        "policy.component.wasm",
        "policy.wasm",
        "rego/register.rego",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.ends_with("_test.rego")));
}

#[test]
fn bad_data_is_refused_before_anything_is_written() {
    let mut options = build::Options::new(Some(config_path()));
    options.data = Some(json!({"requester": {"banned_ips": ["1.2.3.4/33"]}}));
    let err = build::build(&options).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"policy data refused: invalid CIDR at data.requester.banned_ips[0]: "1.2.3.4/33""#
    );
}

fn verify_quick(dir: &Path) -> Vec<String> {
    verify::verify(dir, &verify::Options::default())
        .unwrap()
        .problems
}

#[test]
fn verify_passes_on_a_fresh_build_and_names_each_tampered_file() {
    let dir = scratch("verify");
    build::write(&openmeet(), &dir).unwrap();
    // The full check: every fixture suite on the bundle's own artifacts.
    let suites = verify::Options {
        suites: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")],
        claims_suites: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("claims")],
        verification_key: None,
    };
    let full = verify::verify(&dir, &suites).unwrap();
    assert_eq!(full.problems, Vec::<String>::new());
    assert!(
        full.checked
            .iter()
            .any(|c| c.contains("fixture cases on native, component, opa, rego")),
        "{:?}",
        full.checked
    );

    let wasm = dir.join("policy.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&wasm, &bytes).unwrap();
    let problems = verify_quick(&dir);
    assert!(
        problems
            .contains(&"policy.wasm: altered (its digest does not match manifest.json)".to_owned()),
        "{problems:?}"
    );
    bytes[100] ^= 1;
    std::fs::write(&wasm, &bytes).unwrap();
    assert_eq!(verify_quick(&dir), Vec::<String>::new());

    std::fs::remove_file(dir.join("kubernetes/deployment-patch.yaml")).unwrap();
    assert_eq!(
        verify_quick(&dir),
        ["kubernetes/deployment-patch.yaml: missing"]
    );
    build::write(&openmeet(), &dir).unwrap();

    std::fs::write(dir.join("rego/extra.rego"), "package extra\n").unwrap();
    assert_eq!(
        verify_quick(&dir),
        ["rego/extra.rego: extra file, not in manifest.json"]
    );
    build::write(&openmeet(), &dir).unwrap();

    let data = dir.join("data.json");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replace("hikers.", "hikerz.")).unwrap();
    let problems = verify_quick(&dir);
    assert!(
        problems
            .contains(&"data.json: altered (its digest does not match manifest.json)".to_owned()),
        "{problems:?}"
    );
    // The edit is also caught where it matters: the config no longer gives MAS this data.
    assert!(
        problems.contains(
            &"mas-config.yaml: policy.data, merged over MAS's base data, differs from data.json"
                .to_owned()
        ),
        "{problems:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_signed_bundle_verifies_only_with_its_key_and_untouched() {
    let secret = b"a test secret of this project, not a real key";
    let mut options = build::Options::new(Some(config_path()));
    options.signing_key = Some(signing::SigningKey::from_pem_or_secret(secret, None).unwrap());
    let dir = scratch("signed");
    build::write(&build::build(&options).unwrap(), &dir).unwrap();
    let tree = read_tree(&dir).unwrap();
    assert!(tree.iter().any(|(p, _)| p == ".signatures.json"));

    let with = |key: &[u8]| verify::Options {
        verification_key: Some(signing::VerificationKey::from_pem_or_secret(key, None).unwrap()),
        ..verify::Options::default()
    };
    let ok = verify::verify(&dir, &with(secret)).unwrap();
    assert_eq!(ok.problems, Vec::<String>::new());

    let wrong = verify::verify(&dir, &with(b"another secret")).unwrap();
    assert!(!wrong.problems.is_empty());
    assert!(
        wrong.problems.iter().all(|p| p.contains("signature")),
        "{:?}",
        wrong.problems
    );

    std::fs::write(dir.join("mas-config.yaml"), "policy: {}\n").unwrap();
    let altered = verify::verify(&dir, &with(secret)).unwrap();
    assert!(
        altered
            .problems
            .iter()
            .any(|p| p.starts_with("signature of the bundle:") && p.contains("mas-config.yaml")),
        "{:?}",
        altered.problems
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// MAS reads `MAS_CONFIG=/config/config.yaml:/policy/mas-config.yaml` with figment's admerge:
/// the deployment's own file without `policy:` and providers, then the bundle's, gives MAS the
/// bundle's data and templates; leaving them in both files is caught.
#[test]
fn the_bundle_config_merges_after_the_deployments_own_as_mas_merges_it() {
    let dir = scratch("merge");
    build::write(&openmeet(), &dir).unwrap();
    let original = std::fs::read_to_string(config_path()).unwrap();
    let own = original.split("\nupstream_oauth2:").next().unwrap();
    std::fs::write(dir.join("own.yaml"), own).unwrap();
    let list = |first: &Path| {
        PathBuf::from(format!(
            "{}:{}",
            first.display(),
            dir.join("mas-config.yaml").display()
        ))
    };

    let merged = MasConfig::load(&list(&dir.join("own.yaml"))).unwrap();
    assert_eq!(merged.merge_problems(), Vec::<String>::new());
    assert_eq!(
        merged.document()["matrix"]["endpoint"],
        "http://synapse:8008/"
    );
    let data =
        mas_config::assemble(merged.base_data().unwrap(), merged.policy_data(), None).unwrap();
    let data_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("data.json")).unwrap()).unwrap();
    assert_eq!(data, data_json);
    assert!(policy_test::lint::tenant_safety::lint(&merged, &data).is_empty());

    let doubled = MasConfig::load(&list(&config_path())).unwrap();
    let problems = doubled.merge_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with(&format!("provider {PROVIDER} is listed twice")));
    assert!(problems[1].starts_with("policy.data is set in "));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn opa_manifest(bundle: &build::Bundle) -> Value {
    let entries = bundle::opa_bundle::read_tar_gz(file(bundle, "bundle.tar.gz")).unwrap();
    let manifest = &entries.iter().find(|(p, _)| p == ".manifest").unwrap().1;
    serde_json::from_slice(manifest).unwrap()
}

#[test]
fn the_opa_manifest_lists_the_wasm_entrypoints_unless_asked_not_to() {
    let with = opa_manifest(&openmeet());
    assert_eq!(with["rego_version"], 1);
    assert_eq!(with["roots"], json!([""]));
    let entrypoints: Vec<&str> = with["wasm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["module"], "/policy.wasm");
            w["entrypoint"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        entrypoints,
        [
            "register/violation",
            "email/violation",
            "client_registration/violation",
            "authorization_grant/violation",
            "compat_login/violation"
        ]
    );

    let mut options = build::Options::new(Some(config_path()));
    options.opa_wasm_entrypoints = false;
    let without = build::build(&options).unwrap();
    assert!(opa_manifest(&without).get("wasm").is_none());
    let dir = scratch("no-wasm");
    build::write(&without, &dir).unwrap();
    assert_eq!(verify_quick(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}
