//! The claims mapper: every fixture in `tests/claims` on the native library and the component,
//! which must agree; the component imports nothing.

use std::path::Path;

use policy_test::claims::{
    MapperEngine, NativeMapper,
    component::{ComponentMapper, default_limits},
    fixtures,
};
use wasmtime::{Config, Engine, component::Component};

fn engines() -> Vec<Box<dyn MapperEngine>> {
    vec![
        Box::new(NativeMapper),
        Box::new(ComponentMapper::new(default_limits()).unwrap()),
    ]
}

#[test]
fn the_claims_component_imports_nothing() {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, policy_artifacts::claims_component()).unwrap();
    let imports: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(imports, Vec::<String>::new());
}

#[test]
fn every_claims_fixture_passes_on_both_engines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims");
    let engines = engines();
    let mut failures = Vec::new();
    let mut count = 0;
    for file in fixtures::discover(&root).unwrap() {
        for case in fixtures::load(&file).unwrap() {
            count += 1;
            if let Some(why) = fixtures::run_case(&case, &engines).failure {
                failures.push(format!("{}\n  {}", case.label, why.replace('\n', "\n  ")));
            }
        }
    }
    assert!(count >= 60, "only {count} claims fixtures found");
    assert!(
        failures.is_empty(),
        "{} of {count} claims fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_trap_in_the_component_is_an_error_and_the_next_call_works() {
    use policy_test::limits::Limits;
    use serde_json::json;

    let engine = ComponentMapper::new(Limits {
        fuel: Some(2_000_000),
        ..default_limits()
    })
    .unwrap();
    let imports = json!({"localpart": {"action": "force",
        "template": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"}});
    let data = json!({"server_name": "example.com"});
    let mut mapper = engine.load(&imports, &data).unwrap();
    let claims = json!({"id_token_claims": {"sub": "1"}});
    let err = mapper.map(&claims).unwrap_err();
    assert!(err.starts_with("mapping trapped: "), "{err}");
    let err = mapper.map(&claims).unwrap_err();
    assert!(err.starts_with("mapping trapped: "), "{err}");
}
