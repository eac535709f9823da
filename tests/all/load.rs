//! Load on the host runner: many threads share one compiled engine, each thread with its own
//! loaded instances, reloading data as it goes. Every decision must be the one a single thread
//! gets for the same data and input.
//!
//! Two data documents decide cases of every entrypoint differently (the second bans the
//! requester's network, the workload's username and email, and allows insecure client URIs),
//! and neighbouring threads load them in opposite order, so an evaluation that saw another
//! instance's data, or another thread's input, would give a wrong decision.

use std::thread;

use policy_rules::Entrypoint;
use policy_test::{
    bench::Workload,
    engine::{
        Engine, EvalError,
        component::ComponentEngine,
        native::NativeEngine,
        opa::{Mode, OpaEngine},
        rego::RegoEngine,
        same_decision,
    },
    limits::Limits,
};
use serde_json::{Value, json};

/// Threads and evaluations per thread for the wasm engines.
const THREADS: usize = 8;
const EVALUATIONS: usize = 100_000;
/// Evaluations between two data loads in a thread.
const RELOAD_EVERY: usize = 2_500;

/// The workload's data, and the same data banning what the workload's inputs send.
fn documents(workload: &Workload) -> [Value; 2] {
    let mut strict = workload.data.clone();
    strict["registration"]["banned_usernames"]["literals"] = json!(["alice.smith", "root"]);
    strict["emails"]["banned_addresses"]["suffixes"] = json!(["@example.org"]);
    strict["requester"]["banned_ips"] = json!(["203.0.113.0/24"]);
    strict["client_registration"] = json!({"allow_insecure_uris": true});
    [workload.data.clone(), strict]
}

/// The workload's inputs, and each again from another requester and with another user.
fn cases(workload: &Workload) -> Vec<(Entrypoint, Value)> {
    let mut cases = workload.inputs.clone();
    for (entrypoint, input) in &workload.inputs {
        let mut other = input.clone();
        // Banned by the workload's `2001:db8::/32`, which the strict document drops.
        other["requester"]["ip_address"] = json!("2001:db8::5");
        if other.get("username").is_some() {
            other["username"] = json!("root");
        }
        if other.get("email").is_some() {
            other["email"] = json!("bob@example.org");
        }
        if let Some(metadata) = other.get_mut("client_metadata") {
            metadata["client_uri"] = json!("http://app.element.io/");
            metadata["redirect_uris"] = json!(["http://app.element.io/cb"]);
        }
        cases.push((*entrypoint, other));
    }
    cases
}

type Decision = Result<Vec<Value>, EvalError>;

/// The single-threaded decisions: `expected[document][case]`.
fn expected(
    engine: &dyn Engine,
    documents: &[Value],
    cases: &[(Entrypoint, Value)],
) -> Vec<Vec<Decision>> {
    documents
        .iter()
        .map(|data| {
            let mut policy = engine.load(data).unwrap();
            cases
                .iter()
                .map(|(entrypoint, input)| policy.evaluate(*entrypoint, Some(input)))
                .collect()
        })
        .collect()
}

/// Runs `threads` threads of `evaluations` each on `engine`, and returns (evaluations run,
/// wrong decisions, the first wrong one).
fn run(
    engine: &(dyn Engine + Sync),
    threads: usize,
    evaluations: usize,
    reload_every: usize,
) -> (usize, usize, Option<String>) {
    let workload = Workload::builtin();
    let documents = documents(&workload);
    let cases = cases(&workload);
    let expected = expected(engine, &documents, &cases);
    for entrypoint in Entrypoint::ALL {
        assert!(
            cases
                .iter()
                .enumerate()
                .any(|(index, (e, _))| *e == entrypoint
                    && !same_decision(&expected[0][index], &expected[1][index])),
            "{}: both documents decide every {} case alike, so cross-talk could not show",
            engine.name(),
            entrypoint.name()
        );
    }
    let results: Vec<(usize, usize, Option<String>)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (documents, cases, expected) = (&documents, &cases, &expected);
                scope.spawn(move || {
                    let (mut done, mut wrong, mut first) = (0, 0, None);
                    for round in 0..evaluations.div_ceil(reload_every) {
                        let document = (thread + round) % documents.len();
                        let mut policy = engine.load(&documents[document]).unwrap();
                        for step in 0..reload_every.min(evaluations - done) {
                            let case = (step * 7 + thread) % cases.len();
                            let (entrypoint, input) = &cases[case];
                            let got = policy.evaluate(*entrypoint, Some(input));
                            if !same_decision(&got, &expected[document][case]) {
                                wrong += 1;
                                first.get_or_insert_with(|| {
                                    format!(
                                        "thread {thread}, document {document}, case {case}: {got:?}"
                                    )
                                });
                            }
                            done += 1;
                        }
                    }
                    (done, wrong, first)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    results
        .into_iter()
        .fold((0, 0, None), |(done, wrong, first), (d, w, f)| {
            (done + d, wrong + w, first.or(f))
        })
}

fn check(engine: &(dyn Engine + Sync), threads: usize, evaluations: usize, reload_every: usize) {
    let (done, wrong, first) = run(engine, threads, evaluations, reload_every);
    assert_eq!(done, threads * evaluations, "{}", engine.name());
    assert_eq!(
        wrong,
        0,
        "{}: {wrong} wrong decisions; first: {first:?}",
        engine.name()
    );
}

/// The host runner (`component`): one `InstancePre` shared by 8 threads, 100k evaluations
/// each, under the default limits.
#[test]
fn the_component_engine_under_eight_threads() {
    let engine = ComponentEngine::new(Limits::default()).unwrap();
    check(&engine, THREADS, EVALUATIONS, RELOAD_EVERY);
}

/// `policy.wasm` through opa-wasm, one instance per load (MAS's loader, kept warm).
#[test]
fn the_opa_engine_under_eight_threads() {
    let engine = OpaEngine::new(Mode::Warm).unwrap();
    check(&engine, THREADS, EVALUATIONS, RELOAD_EVERY);
}

#[test]
fn the_native_engine_under_eight_threads() {
    check(&NativeEngine, THREADS, EVALUATIONS, RELOAD_EVERY);
}

/// The rego engine shares its kept document between threads (behind a mutex); a smaller
/// count, since an evaluation costs about a hundred times more.
#[test]
fn the_rego_engine_under_eight_threads() {
    let engine = RegoEngine::new().unwrap();
    check(&engine, THREADS, 1_000, 250);
}

/// What `policy_test::engine`'s module doc promises embedders.
#[test]
fn every_engine_type_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<NativeEngine>();
    shareable::<ComponentEngine>();
    shareable::<OpaEngine>();
    shareable::<RegoEngine>();
}

/// The check above can fail: an evaluation against the other document is caught.
#[test]
fn a_decision_from_the_other_document_is_caught() {
    let workload = Workload::builtin();
    let documents = documents(&workload);
    let cases = cases(&workload);
    let expected = expected(&NativeEngine, &documents, &cases);
    let mut policy = NativeEngine.load(&documents[1]).unwrap();
    let (entrypoint, input) = &cases[0];
    assert!(!same_decision(
        &policy.evaluate(*entrypoint, Some(input)),
        &expected[0][0]
    ));
}
