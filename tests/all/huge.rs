//! Huge inputs on every engine: a 10 MB username and 100,000 redirect URIs. Every engine must
//! decide them as the native rules do, or (the rego engine only, whose evaluation of 100,000
//! URIs outlasts its time limit) fail closed on its timer; none may panic, hang or run out of
//! memory. Their cost, and that it grows linearly, is measured in the benches (`huge_input/*`).

use policy_rules::Entrypoint;
use policy_test::{
    bench::{Workload, long_username, many_redirect_uris},
    engine::{
        Engine, EvalError,
        component::ComponentEngine,
        native::NativeEngine,
        opa::{Mode, OpaEngine},
        rego::RegoEngine,
    },
    limits::Limits,
};
use serde_json::{Value, json};

fn decide(
    engine: &dyn Engine,
    entrypoint: Entrypoint,
    input: &Value,
) -> Result<Vec<Value>, EvalError> {
    let data = Workload::builtin().data;
    engine
        .load(&data)
        .unwrap()
        .evaluate(entrypoint, Some(input))
}

fn cases() -> Vec<(Entrypoint, Value, Vec<Value>)> {
    vec![
        (
            Entrypoint::Register,
            long_username(10 * 1024 * 1024),
            vec![
                json!({"code": "username-too-long", "field": "username", "msg": "username too long"}),
            ],
        ),
        (
            Entrypoint::ClientRegistration,
            many_redirect_uris(100_000),
            vec![
                json!({"msg": "invalid redirect_uri", "redirect_uri": "https://elsewhere.example/cb"}),
            ],
        ),
    ]
}

fn check(engine: &dyn Engine, timer_may_stop: &[Entrypoint]) {
    for (entrypoint, input, expected) in cases() {
        match decide(engine, entrypoint, &input) {
            Ok(got) => assert_eq!(got, expected, "{} on {}", engine.name(), entrypoint.name()),
            Err(EvalError::Engine(msg))
                if timer_may_stop.contains(&entrypoint) && msg.contains("time limit") => {}
            Err(e) => panic!("{} on {}: {e}", engine.name(), entrypoint.name()),
        }
    }
}

#[test]
fn the_native_rules_decide_huge_inputs() {
    check(&NativeEngine, &[]);
}

#[test]
fn the_component_decides_huge_inputs_within_its_limits() {
    check(&ComponentEngine::new(Limits::default()).unwrap(), &[]);
}

#[test]
fn policy_wasm_decides_huge_inputs() {
    check(&OpaEngine::new(Mode::PerRequest).unwrap(), &[]);
}

#[test]
fn the_rego_engine_decides_huge_inputs_or_stops_on_its_timer() {
    check(
        &RegoEngine::new().unwrap(),
        &[Entrypoint::ClientRegistration],
    );
}
