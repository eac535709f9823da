//! The policy component and the host runner: zero imports, limits, and hostile guests.

use std::time::{Duration, Instant};

use policy_rules::Entrypoint;
use policy_test::{
    engine::{Engine as _, EvalError, component::ComponentEngine},
    limits::Limits,
};
use serde_json::{Value, json};
use wasmtime::{Config, Engine, component::Component};

fn imports_of(bytes: &[u8]) -> Vec<String> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, bytes).unwrap();
    component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[test]
fn the_policy_component_imports_nothing() {
    assert_eq!(
        imports_of(policy_artifacts::policy_component()),
        Vec::<String>::new()
    );
    assert_eq!(
        imports_of(policy_artifacts::hostile_component()),
        Vec::<String>::new()
    );
}

#[test]
fn the_component_reports_the_five_entrypoints() {
    let engine = ComponentEngine::new(Limits::default()).unwrap();
    let names = engine.entrypoints().unwrap();
    let want: Vec<String> = Entrypoint::ALL
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(names, want);
}

#[test]
fn a_precompiled_component_gives_the_same_answers() {
    let limits = Limits::default();
    let artifact =
        ComponentEngine::precompile(policy_artifacts::policy_component(), &limits).unwrap();
    // SAFETY: the artifact was made just above by the same wasmtime with the same settings.
    #[expect(unsafe_code, reason = "loading our own precompiled artifact")]
    let engine = unsafe { ComponentEngine::from_precompiled(&artifact, limits) }.unwrap();
    let data = json!({"server_name": "example.com", "registration": {"banned_usernames": {"literals": ["root"]}}});
    let mut policy = engine.load(&data).unwrap();
    let got = policy
        .evaluate(
            Entrypoint::Register,
            Some(&json!({"registration_method": "password", "username": "root"})),
        )
        .unwrap();
    assert_eq!(
        got,
        vec![json!({"code": "username-banned", "field": "username", "msg": "username is banned"})]
    );
}

#[test]
fn an_on_disk_cache_is_written_then_used_and_a_bad_one_replaced() {
    let dir = std::env::temp_dir().join(format!("policy-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("policy.cwasm");
    let wasm = policy_artifacts::policy_component();
    let limits = Limits::default();
    #[expect(unsafe_code, reason = "the cache directory is private to this test")]
    let engines = [
        // Absent: compiled and written.
        unsafe { ComponentEngine::with_cache(wasm, &path, limits) }.unwrap(),
        // Present: loaded.
        unsafe { ComponentEngine::with_cache(wasm, &path, limits) }.unwrap(),
        {
            // Corrupt: replaced.
            std::fs::write(&path, b"not an artifact").unwrap();
            unsafe { ComponentEngine::with_cache(wasm, &path, limits) }.unwrap()
        },
    ];
    assert!(std::fs::read(&path).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
    for engine in engines {
        assert_eq!(engine.entrypoints().unwrap().len(), 5);
    }
}

#[test]
fn invalid_data_is_a_data_error() {
    let engine = ComponentEngine::new(Limits::default()).unwrap();
    let Err(err) = engine.load(&json!({"requester": {"banned_ips": ["1.2.3.4/33"]}})) else {
        panic!("invalid data loaded");
    };
    assert_eq!(
        err,
        EvalError::Data(r#"invalid CIDR at data.requester.banned_ips[0]: "1.2.3.4/33""#.to_owned())
    );
}

fn hostile(limits: Limits) -> ComponentEngine {
    ComponentEngine::from_bytes(policy_artifacts::hostile_component(), limits).unwrap()
}

fn attack(engine: &ComponentEngine, how: &str) -> (Result<Vec<Value>, EvalError>, Duration) {
    let mut policy = engine.load(&json!({})).unwrap();
    let start = Instant::now();
    let result = policy.evaluate(Entrypoint::Register, Some(&json!({"hostile": how})));
    let took = start.elapsed();
    // The instance is replaced after the failure: the same loaded policy answers again.
    assert_eq!(
        policy.evaluate(Entrypoint::Register, Some(&json!({}))),
        Ok(vec![]),
        "no recovery after `{how}`"
    );
    (result, took)
}

fn engine_error(result: Result<Vec<Value>, EvalError>) -> String {
    match result {
        Err(EvalError::Engine(msg)) => msg,
        other => panic!("expected an engine error, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_is_stopped_by_the_deadline() {
    let engine = hostile(Limits {
        fuel: None,
        deadline: Some(Duration::from_millis(50)),
        ..Limits::default()
    });
    let (result, took) = attack(&engine, "loop");
    let msg = engine_error(result);
    assert!(msg.contains("interrupt"), "{msg}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn an_endless_loop_is_stopped_by_fuel() {
    let engine = hostile(Limits {
        fuel: Some(5_000_000),
        deadline: None,
        ..Limits::default()
    });
    let (result, _) = attack(&engine, "loop");
    let msg = engine_error(result);
    assert!(msg.contains("fuel"), "{msg}");
}

#[test]
fn a_loop_in_the_data_load_is_stopped_too() {
    let engine = hostile(Limits {
        fuel: Some(5_000_000),
        ..Limits::default()
    });
    let Err(EvalError::Engine(msg)) = engine.load(&json!({"hostile": "loop"})) else {
        panic!("the load should have been stopped");
    };
    assert!(msg.contains("fuel"), "{msg}");
}

#[test]
fn unbounded_memory_growth_is_stopped_by_the_cap() {
    let engine = hostile(Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    });
    let (result, _) = attack(&engine, "grow");
    let msg = engine_error(result);
    assert!(msg.contains("memory"), "{msg}");
}

#[test]
fn garbage_results_are_rejected() {
    let engine = hostile(Limits::default());
    for how in ["garbage", "mismatch", "unsorted"] {
        let (result, _) = attack(&engine, how);
        let msg = engine_error(result);
        assert!(
            msg.starts_with("invalid result from the component"),
            "{how}: {msg}"
        );
    }
}

#[test]
fn every_engine_refuses_a_too_deep_input_alike() {
    let deep: Value = serde_json::from_str(&format!(
        r#"{{"username":{}1{}}}"#,
        "[".repeat(80),
        "]".repeat(80)
    ))
    .unwrap();
    for name in policy_test::engine::ENGINE_NAMES {
        let engine = policy_test::engine::by_name(name).unwrap();
        let mut policy = engine.load(&json!({})).unwrap();
        assert_eq!(
            policy.evaluate(Entrypoint::Register, Some(&deep)),
            Err(EvalError::Engine(
                "input is nested deeper than 64 levels".to_owned()
            )),
            "{name}"
        );
    }
}
