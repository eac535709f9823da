//! Every engine × every entrypoint, per request and warm, plus the data-size and floor cases.
//!
//! - `per_request`: what MAS pays per request (`policy_test::bench::Requests`). For `opa`, a
//!   fresh store, `Runtime::new`, the full data load and one evaluation (the engine's own check
//!   of the data at load is done once, ahead, as MAS does it once per data change); for `native`, compiling the data and one evaluation;
//!   for `component`, a fresh instance from the `InstancePre`, the data load and one
//!   evaluation, under the default limits; for `rego`, validating the data, a VM given the
//!   document the last load of the same data left (the rego engine keeps it), and one
//!   evaluation.
//! - `per_request/rego-new-data`: `rego` when each load brings a different document with the
//!   same patterns (dynamic data changing a flag or a literal): the prepared table computed by
//!   the Rego, reusing the previous load's rewrites, a VM given the document, and one
//!   evaluation.
//! - `per_request/rego-new-pattern`: `rego` when each load also brings a data regex no load had
//!   before, whose rewrite the Rego computes (`register` only).
//! - `per_request/opa-null`: the floor module (below) on the workload's data and inputs,
//!   measured right before `per_request/opa`: the per-request ratios divide these two.
//! - `per_request/opa-stack`: the stack floor (`benches/stack-floor`), measured between them: a
//!   module with no rules that parses each document with the crates the rules are built on, so
//!   what any module made from them pays per request.
//! - `warm`: one loaded instance, evaluation only.
//! - `floor`: the per-request path with `{}` data and an empty input object. `opa-null` runs
//!   `null_policy.wat`, a module that does nothing, so it is the host's own cost: the budget's
//!   "floor". `opa` is our module on the same path.
//! - `threads/component-warm`, `threads/opa-warm`, `threads/opa-per-request`: evaluations per
//!   second with 1, 2, 4 and 8 threads sharing one engine, each thread with its own loaded
//!   policy.
//! - `huge_input/*`: per request with a 1 MB and a 10 MB username, and with 10,000 and 100,000
//!   redirect URIs (the rego engine: the usernames only).
//! - `data_1mib`: the per-request path with about 1 MiB of policy data as many short strings
//!   (a ban list), for the same engines; `data_1mib_large_values` with a few large values.
//!
//! The workload and the data shapes are `policy_test::bench`'s, which `policy-test bench`
//! times in process.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use policy_rules::{Entrypoint, json_parse::parse_input};
use policy_test::{
    bench::{
        NULL_POLICY_WAT, Requests, Shape, Workload, long_username, many_redirect_uris,
        scaling_engines, sized_data, stack_floor_engine, warm_up,
    },
    engine::{
        Engine,
        component::ComponentEngine,
        native::NativeEngine,
        opa::{Mode, OpaEngine},
        rego::RegoEngine,
    },
    limits::Limits,
    merge,
};
use serde_json::{Value, json};

fn workload() -> Workload {
    Workload::builtin()
}

/// About 1 MiB of data in `shape`; the same shapes `policy-test bench` scales.
fn big_data(shape: Shape) -> Value {
    sized_data(shape, 1024 * 1024)
}

fn engines() -> Vec<(Box<dyn Engine>, Box<dyn Engine>)> {
    vec![
        (Box::new(NativeEngine), Box::new(NativeEngine)),
        (
            Box::new(ComponentEngine::new(Limits::default()).expect("component engine")),
            Box::new(ComponentEngine::new(Limits::default()).expect("component engine")),
        ),
        (
            Box::new(OpaEngine::new(Mode::PerRequest).expect("opa engine")),
            Box::new(OpaEngine::new(Mode::Warm).expect("opa engine")),
        ),
        (
            Box::new(RegoEngine::new().expect("rego engine")),
            Box::new(RegoEngine::new().expect("rego engine")),
        ),
    ]
}

/// Native evaluation with the same JSON in and out as the wasm engines: the input value
/// serialised as opa-wasm and the component host do (`serde_json`), parsed from that text by
/// the parser `policy.wasm` and the component use (to the entrypoint's input shape), and the
/// violations printed. The fair baseline for their warm ratios.
fn native_with_json(c: &mut Criterion, w: &Workload) {
    let mut group = c.benchmark_group("warm/native-json");
    let mut policy = NativeEngine.load(&w.data).expect("load");
    for (entrypoint, input) in &w.inputs {
        group.bench_with_input(
            BenchmarkId::from_parameter(entrypoint.name()),
            input,
            |b, input| {
                b.iter(|| {
                    let text = serde_json::to_vec(input).expect("input");
                    let input = parse_input(&text, entrypoint.input_shape()).expect("input");
                    let out = policy.evaluate(*entrypoint, Some(&input)).expect("eval");
                    black_box(Value::Array(out).to_string())
                });
            },
        );
    }
    group.finish();
}

/// The rego engine's per-request path without its reuse of the last load: two documents that
/// differ only in a key no rule reads, loaded in turn.
fn rego_new_data(c: &mut Criterion, w: &Workload, engine: &dyn Engine) {
    let mut other = w.data.clone();
    other["bench_unused"] = json!(true);
    let documents = [&w.data, &other];
    let mut group = c.benchmark_group("per_request/rego-new-data");
    for (entrypoint, input) in &w.inputs {
        let mut turn = 0;
        group.bench_with_input(
            BenchmarkId::from_parameter(entrypoint.name()),
            input,
            |b, input| {
                b.iter(|| {
                    turn ^= 1;
                    let mut policy = engine.load(documents[turn]).expect("load");
                    black_box(policy.evaluate(*entrypoint, Some(input)).expect("eval"))
                });
            },
        );
    }
    group.finish();
}

/// `rego` when every load brings a data regex no earlier load had, so that its rewrite is
/// computed (the workload's `register` only: the rewrite does not depend on the entrypoint).
fn rego_new_pattern(c: &mut Criterion, w: &Workload, engine: &dyn Engine) {
    let (entrypoint, input) = w
        .inputs
        .iter()
        .find(|(e, _)| *e == Entrypoint::Register)
        .expect("the workload has register");
    let mut group = c.benchmark_group("per_request/rego-new-pattern");
    let mut serial = 0_u64;
    group.bench_function(BenchmarkId::from_parameter(entrypoint.name()), |b| {
        b.iter(|| {
            serial += 1;
            let mut data = w.data.clone();
            data["registration"]["banned_usernames"]["regexes"][0] =
                json!(format!("^mod{serial}[0-9]+$"));
            let mut policy = engine.load(&data).expect("load");
            black_box(policy.evaluate(*entrypoint, Some(input)).expect("eval"))
        });
    });
    group.finish();
}

/// One engine's requests on the workload, one benchmark per entrypoint, in group `name`.
fn requests_group(c: &mut Criterion, name: &str, engine: &dyn Engine, w: &Workload) {
    let mut group = c.benchmark_group(name);
    let mut requests = Requests::new(engine, &w.data).expect("load");
    // The first requests in a process are slower; see `bench::warm_up`.
    warm_up(engine, w, Duration::from_secs(1)).expect("warm-up");
    for (entrypoint, input) in &w.inputs {
        group.bench_with_input(
            BenchmarkId::from_parameter(entrypoint.name()),
            input,
            |b, input| {
                b.iter(|| black_box(requests.run(*entrypoint, input).expect("eval")));
            },
        );
    }
    group.finish();
}

/// The floor module on the workload's data and inputs, measured just before `policy.wasm` so
/// that the per-request ratios compare times taken minutes apart as little as possible (this
/// machine drifts).
fn floor_on_the_workload(c: &mut Criterion, w: &Workload) {
    let engines = floor_engines();
    if let Some(floor) = engines.iter().find(|e| e.name() == "opa-null") {
        requests_group(c, "per_request/opa-null", floor.as_ref(), w);
    }
    let stack = stack_floor_engine().expect("the stack floor module");
    requests_group(c, "per_request/opa-stack", &stack, w);
}

fn per_request_and_warm(c: &mut Criterion) {
    let w = workload();
    for (per_request, warm) in engines() {
        if per_request.name() == "opa" {
            floor_on_the_workload(c, &w);
        }
        let name = format!("per_request/{}", per_request.name());
        requests_group(c, &name, per_request.as_ref(), &w);

        if per_request.name() == "native" {
            native_with_json(c, &w);
        }
        if per_request.name() == "rego" {
            rego_new_data(c, &w, per_request.as_ref());
            rego_new_pattern(c, &w, per_request.as_ref());
        }
        if per_request.name() == "opa" {
            let floor = OpaEngine::from_bytes(NULL_POLICY_WAT.as_bytes(), Mode::Warm)
                .expect("the floor module");
            warm_group(c, "warm/opa-null", &floor, &w);
        }
        warm_group(
            c,
            &format!("warm/{}", per_request.name()),
            warm.as_ref(),
            &w,
        );
    }
}

/// One loaded policy's evaluations on the workload, one benchmark per entrypoint. For the
/// floor module (`warm/opa-null`) that is opa-wasm's own work per evaluation: the input
/// serialised and written in, the result read back and parsed.
fn warm_group(c: &mut Criterion, name: &str, engine: &dyn Engine, w: &Workload) {
    let mut group = c.benchmark_group(name);
    let mut policy = engine.load(&w.data).expect("load");
    for (entrypoint, input) in &w.inputs {
        group.bench_with_input(
            BenchmarkId::from_parameter(entrypoint.name()),
            input,
            |b, input| {
                b.iter(|| black_box(policy.evaluate(*entrypoint, Some(input)).expect("eval")));
            },
        );
    }
    group.finish();
}

/// The engines of the floor comparisons: native, the do-nothing module, and ours.
fn floor_engines() -> Vec<Box<dyn Engine>> {
    scaling_engines().expect("the floor engines")
}

fn floor_and_big_data(c: &mut Criterion) {
    let empty = merge::empty();
    let trivial = json!({});
    let input = json!({"registration_method": "password", "username": "alice"});
    let mut group = c.benchmark_group("floor");
    for engine in floor_engines() {
        let mut requests = Requests::new(engine.as_ref(), &empty).expect("load");
        group.bench_function(engine.name(), |b| {
            b.iter(|| black_box(requests.run(Entrypoint::Email, &trivial).expect("eval")));
        });
    }
    group.finish();
    for shape in Shape::ALL {
        let big = big_data(shape);
        let mut group = c.benchmark_group(match shape {
            Shape::ShortStrings => "data_1mib",
            Shape::LargeValues => "data_1mib_large_values",
        });
        group.sample_size(20);
        for engine in floor_engines() {
            let mut requests = Requests::new(engine.as_ref(), &big).expect("load");
            group.bench_function(engine.name(), |b| {
                b.iter(|| black_box(requests.run(Entrypoint::Register, &input).expect("eval")));
            });
        }
        group.finish();
    }
}

/// Evaluations each thread runs per iteration of `threads/*` (criterion's throughput unit is
/// one iteration of all threads).
const THREAD_EVALUATIONS: usize = 40;

/// Throughput with 1, 2, 4 and 8 threads sharing one engine, each thread loading its own
/// policy and running the workload's five inputs in turn: the component warm (the host runner
/// as a server would keep it), `policy.wasm` warm, and `policy.wasm` per request (MAS's path).
fn threads(c: &mut Criterion) {
    let w = workload();
    let engines: Vec<(&str, Box<dyn Engine + Sync>, usize)> = vec![
        (
            "component-warm",
            Box::new(ComponentEngine::new(Limits::default()).expect("component engine")),
            THREAD_EVALUATIONS,
        ),
        (
            "opa-warm",
            Box::new(OpaEngine::new(Mode::Warm).expect("opa engine")),
            THREAD_EVALUATIONS,
        ),
        (
            "opa-per-request",
            Box::new(OpaEngine::new(Mode::PerRequest).expect("opa engine")),
            THREAD_EVALUATIONS / 8,
        ),
    ];
    for (name, engine, per_thread) in &engines {
        let mut group = c.benchmark_group(format!("threads/{name}"));
        for threads in [1_usize, 2, 4, 8] {
            group.throughput(Throughput::Elements((threads * per_thread) as u64));
            group.bench_function(BenchmarkId::from_parameter(threads), |b| {
                // The threads live for the whole sample, so that neither their start nor
                // wasmtime's per-thread set-up is timed as evaluations.
                b.iter_custom(|iters| {
                    let evaluations = usize::try_from(iters).expect("iterations") * per_thread;
                    let started = Instant::now();
                    std::thread::scope(|scope| {
                        for _ in 0..threads {
                            scope.spawn(|| {
                                // The opa engine's evaluations are whole requests; the
                                // component's are warm evaluations of one loaded instance.
                                let mut policy = engine.load(&w.data).expect("load");
                                for step in 0..evaluations {
                                    let (entrypoint, input) = &w.inputs[step % w.inputs.len()];
                                    black_box(
                                        policy.evaluate(*entrypoint, Some(input)).expect("eval"),
                                    );
                                }
                            });
                        }
                    });
                    started.elapsed()
                });
            });
        }
        group.finish();
    }
}

/// Per request with a huge input, at two sizes ten times apart, so that the ratio shows the
/// cost is linear: a 1 MB and a 10 MB username, and 10,000 and 100,000 redirect URIs. The
/// rego engine takes the usernames only (100,000 URIs outlast its time limit).
fn huge_inputs(c: &mut Criterion) {
    let w = workload();
    let engines: Vec<Box<dyn Engine>> = vec![
        Box::new(NativeEngine),
        Box::new(ComponentEngine::new(Limits::default()).expect("component engine")),
        Box::new(OpaEngine::new(Mode::PerRequest).expect("opa engine")),
        Box::new(RegoEngine::new().expect("rego engine")),
    ];
    let inputs = [
        (
            "username_1mb",
            Entrypoint::Register,
            long_username(1024 * 1024),
        ),
        (
            "username_10mb",
            Entrypoint::Register,
            long_username(10 * 1024 * 1024),
        ),
        (
            "redirect_uris_10k",
            Entrypoint::ClientRegistration,
            many_redirect_uris(10_000),
        ),
        (
            "redirect_uris_100k",
            Entrypoint::ClientRegistration,
            many_redirect_uris(100_000),
        ),
    ];
    for (name, entrypoint, input) in &inputs {
        let mut group = c.benchmark_group(format!("huge_input/{name}"));
        group.sample_size(10);
        for engine in &engines {
            if engine.name() == "rego" && *entrypoint == Entrypoint::ClientRegistration {
                continue;
            }
            let mut requests = Requests::new(engine.as_ref(), &w.data).expect("load");
            group.bench_function(engine.name(), |b| {
                b.iter(|| black_box(requests.run(*entrypoint, input).expect("eval")));
            });
        }
        group.finish();
    }
}

criterion_group!(
    benches,
    per_request_and_warm,
    floor_and_big_data,
    threads,
    huge_inputs
);
criterion_main!(benches);
