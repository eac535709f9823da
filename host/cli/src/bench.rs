//! `policy-test bench`: in-process timing of every engine × entrypoint, the in-process
//! counterpart of the criterion benches (`benches/engines.rs`), which use the same workload
//! and data shapes from here.
//!
//! - **per request** is MAS's pattern ([`Requests`]): a fresh instance, the whole data document
//!   loaded, one evaluation (for `rego`, the engine reuses the last load of equal data, as
//!   MAS's steady state allows);
//! - **warm** is one loaded instance, evaluation only;
//! - **floor** is the per-request path of `null_policy.wat`, an OPA-ABI module that does
//!   nothing, with `{}` data: what the host costs on its own;
//! - **scaling** is the per-request path of `register/violation` with about 1 KiB, 64 KiB and
//!   1 MiB of data, in two shapes: many short strings (a ban list, as real dynamic data is)
//!   and a few large values.
//!
//! - **phases** splits the per-request path into instantiation, data load and evaluation, on
//!   the run's data and inputs and on 1 MiB of each shape with `register/violation`, for the
//!   floor module, the floor module with as many bytes of static data as ours, the stack floor
//!   ([`stack_floor_engine`]: no rules, the rules' crates) and `policy.wasm`, beside the size of
//!   `policy.wasm`'s data segments, which every instantiation copies into fresh memory. Each
//!   phase also gets its count of minor page faults (Linux): a fresh linear memory maps each
//!   4 KiB page on its first write, and those faults are a large share of the per-request time.
//! - **a module of your own** (`--module`, engine [`MODULE`]) is timed beside ours, per request,
//!   warm and in the phase table: MAS's OPA-built `policy.wasm`, or another build of ours.
//!
//! Each measurement repeats its call for a time budget (at least [`MIN_SAMPLES`] times) and
//! reports the median and the 99th percentile of the single-call times.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use policy_rules::Entrypoint;
use serde_json::{Value, json};

use crate::{
    engine::{Engine, EvalError, LoadedPolicy, native::NativeEngine, opa},
    merge,
};

/// The do-nothing OPA-ABI module of the floor.
pub const NULL_POLICY_WAT: &str = include_str!("../../../benches/null_policy.wat");

/// How long each engine runs before its first measurement ([`warm_up`]).
pub const WARM_UP: Duration = Duration::from_millis(500);

/// The fewest calls a measurement makes, whatever its budget.
pub const MIN_SAMPLES: usize = 5;

/// The representative data and one input per entrypoint (`benches/workload.json`).
#[derive(Debug, Clone)]
pub struct Workload {
    /// The data document, merged over MAS's base data.
    pub data: Value,
    /// One input per entrypoint, in [`Entrypoint::ALL`] order.
    pub inputs: Vec<(Entrypoint, Value)>,
}

impl Workload {
    /// The built-in workload, its data merged over the base data for `example.com`.
    ///
    /// # Panics
    ///
    /// Never: the workload file is checked by a test.
    pub fn builtin() -> Workload {
        let raw: Value = serde_json::from_str(include_str!("../../../benches/workload.json"))
            .unwrap_or_else(|e| unreachable!("benches/workload.json: {e}"));
        let data = merge::merge(merge::base("example.com"), raw["data"].clone())
            .unwrap_or_else(|e| unreachable!("benches/workload.json data: {e}"));
        let inputs = Entrypoint::ALL
            .into_iter()
            .map(|e| (e, raw["inputs"][e.name()].clone()))
            .collect();
        Workload { data, inputs }
    }

    /// The built-in inputs with a deployment's data instead.
    pub fn with_data(data: Value) -> Workload {
        Workload {
            data,
            ..Workload::builtin()
        }
    }
}

/// How scaling data fills its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Many short strings: `registration.banned_usernames.literals` of 20-byte names.
    ShortStrings,
    /// A few large values: eight long `admin_clients` entries.
    LargeValues,
}

impl Shape {
    /// Both shapes.
    pub const ALL: [Shape; 2] = [Shape::ShortStrings, Shape::LargeValues];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Shape::ShortStrings => "many short strings",
            Shape::LargeValues => "few large values",
        }
    }
}

/// A `register` input whose username is `bytes` long: a huge string, for the linear-time
/// checks (`tests/all/huge.rs` and the `huge_input` benches).
pub fn long_username(bytes: usize) -> Value {
    json!({
        "registration_method": "password",
        "username": "a".repeat(bytes),
        "email": "alice@example.org",
        "requester": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    })
}

/// A `client_registration` input with `count` distinct redirect URIs on the client's host, the
/// last one on another host: a huge array, for the same checks.
pub fn many_redirect_uris(count: usize) -> Value {
    let mut uris: Vec<Value> = (1..count)
        .map(|i| json!(format!("https://app.element.io/cb/{i}")))
        .collect();
    uris.push(json!("https://elsewhere.example/cb"));
    json!({
        "client_metadata": {
            "application_type": "web",
            "client_uri": "https://app.element.io/",
            "redirect_uris": uris,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
        "requester": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    })
}

/// About `bytes` of policy data in `shape`, merged over the base data for `example.com`.
pub fn sized_data(shape: Shape, bytes: usize) -> Value {
    let data = match shape {
        Shape::ShortStrings => {
            // `"reserved-name-000000",` is 23 bytes.
            let literals: Vec<Value> = (0..bytes.div_ceil(23).max(1))
                .map(|i| json!(format!("reserved-name-{i:06}")))
                .collect();
            json!({"registration": {"banned_usernames": {"literals": literals}}})
        }
        Shape::LargeValues => {
            let each = (bytes / 8).max(1);
            let clients: Vec<Value> = (0..8_u8)
                .map(|i| json!(format!("{}{}", char::from(b'a' + i), "x".repeat(each - 1))))
                .collect();
            json!({"admin_clients": clients})
        }
    };
    merge::merge(merge::base("example.com"), data)
        .unwrap_or_else(|e| unreachable!("sized data merges: {e}"))
}

/// An engine under another name, to tell the floor module from ours in reports.
pub struct Named(pub &'static str, pub opa::OpaEngine);

impl Engine for Named {
    fn name(&self) -> &'static str {
        self.0
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        self.1.load(data)
    }

    fn evaluation_is_a_request(&self) -> bool {
        self.1.evaluation_is_a_request()
    }
}

/// MAS's requests on one engine and data document: each [`Requests::run`] is what one request
/// costs. For engines whose evaluations are whole requests ([`Engine::evaluation_is_a_request`])
/// the data is loaded once ahead; for the others each run loads it and evaluates.
pub struct Requests<'e> {
    engine: &'e dyn Engine,
    data: &'e Value,
    loaded: Option<Box<dyn LoadedPolicy + 'e>>,
}

impl<'e> Requests<'e> {
    /// Prepares requests on `engine` with `data`.
    ///
    /// # Errors
    ///
    /// The engine's error when it loads ahead.
    pub fn new(engine: &'e dyn Engine, data: &'e Value) -> Result<Self, EvalError> {
        let loaded = if engine.evaluation_is_a_request() {
            Some(engine.load(data)?)
        } else {
            None
        };
        Ok(Requests {
            engine,
            data,
            loaded,
        })
    }

    /// One request.
    ///
    /// # Errors
    ///
    /// The engine's error.
    pub fn run(&mut self, entrypoint: Entrypoint, input: &Value) -> Result<Vec<Value>, EvalError> {
        match &mut self.loaded {
            Some(policy) => policy.evaluate(entrypoint, Some(input)),
            None => self
                .engine
                .load(self.data)?
                .evaluate(entrypoint, Some(input)),
        }
    }
}

/// The floor engine: `null_policy.wat` on the per-request path.
///
/// # Errors
///
/// When wasmtime cannot compile it.
pub fn floor_engine() -> anyhow::Result<Named> {
    Ok(Named(
        "opa-null",
        opa::OpaEngine::from_bytes(NULL_POLICY_WAT.as_bytes(), opa::Mode::PerRequest)?,
    ))
}

/// The stack floor: `benches/stack-floor`, a module with no rules that parses every document
/// with the crates the rules are built on (`serde_json`, regex-lite for the data's regexes,
/// the standard library's formatting), on the per-request path. Between the floor module and
/// ours, it is what any module made from those crates pays before a rule runs.
///
/// # Errors
///
/// When wasmtime cannot compile it.
pub fn stack_floor_engine() -> anyhow::Result<Named> {
    Ok(Named(
        "opa-stack",
        opa::OpaEngine::from_bytes(policy_artifacts::stack_floor_wasm(), opa::Mode::PerRequest)?,
    ))
}

/// Where `policy.wasm`'s static data begins: after its 32 KiB shadow stack.
const STATIC_DATA_AT: usize = 32 * 1024;

/// The floor module with `bytes` of static data where `policy.wasm` keeps its own: the cost of
/// copying static data into every fresh instance, apart from anything the module does. An
/// imported memory has no copy-on-write image, so wasmtime writes every segment byte into new
/// pages at instantiation.
///
/// # Errors
///
/// When wasmtime cannot compile it.
pub fn static_data_floor_engine(bytes: usize) -> anyhow::Result<Named> {
    Ok(Named(
        "opa-null+static",
        opa::OpaEngine::from_bytes(
            static_data_floor_wat(bytes).as_bytes(),
            opa::Mode::PerRequest,
        )?,
    ))
}

/// `null_policy.wat` with one more data segment of `bytes` bytes at [`STATIC_DATA_AT`].
fn static_data_floor_wat(bytes: usize) -> String {
    let segment = format!(
        "  (data (i32.const {STATIC_DATA_AT}) \"{}\")\n  (export \"memory\"",
        "\\ff".repeat(bytes)
    );
    NULL_POLICY_WAT.replacen("  (export \"memory\"", &segment, 1)
}

/// The median and 99th percentile of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// The median single-call time.
    pub median: Duration,
    /// The 99th percentile (the slowest call when there are fewer than 100).
    pub p99: Duration,
    /// How many calls were timed.
    pub samples: usize,
}

/// What `sample` returns, called for `budget` and at least [`MIN_SAMPLES`] times.
///
/// # Errors
///
/// The first error of `sample`.
fn samples<T>(
    budget: Duration,
    mut sample: impl FnMut() -> Result<T, EvalError>,
) -> Result<Vec<T>, EvalError> {
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < MIN_SAMPLES || started.elapsed() < budget {
        out.push(sample()?);
    }
    Ok(out)
}

/// Times `call` for `budget` (at least [`MIN_SAMPLES`] calls).
///
/// # Errors
///
/// The first error of `call`: a measurement of a failing call means nothing.
pub fn measure(
    budget: Duration,
    mut call: impl FnMut() -> Result<(), EvalError>,
) -> Result<Stats, EvalError> {
    let mut times = samples(budget, || {
        let t = Instant::now();
        call()?;
        Ok(t.elapsed())
    })?;
    times.sort_unstable();
    let at = |q: usize| times[(times.len() - 1) * q / 100];
    Ok(Stats {
        median: at(50),
        p99: at(99),
        samples: times.len(),
    })
}

/// Per request on `engine`: load `data`, evaluate `input` at `entrypoint`.
///
/// # Errors
///
/// The engine's error.
pub fn per_request(
    engine: &dyn Engine,
    data: &Value,
    entrypoint: Entrypoint,
    input: &Value,
    budget: Duration,
) -> Result<Stats, EvalError> {
    let mut requests = Requests::new(engine, data)?;
    measure(budget, || {
        std::hint::black_box(requests.run(entrypoint, input)?);
        Ok(())
    })
}

/// Warm on `engine`: one load, then evaluations only.
///
/// # Errors
///
/// The engine's error.
pub fn warm(
    engine: &dyn Engine,
    data: &Value,
    entrypoint: Entrypoint,
    input: &Value,
    budget: Duration,
) -> Result<Stats, EvalError> {
    let mut policy = engine.load(data)?;
    measure(budget, || {
        std::hint::black_box(policy.evaluate(entrypoint, Some(input))?);
        Ok(())
    })
}

/// Runs requests of every workload entrypoint on `engine` for `time` before anything is timed.
/// The first few hundred requests in a process run up to 1.8 times slower than the rest (the
/// host's allocator and the kernel settle), whichever entrypoint comes first.
///
/// # Errors
///
/// The engine's error.
pub fn warm_up(engine: &dyn Engine, workload: &Workload, time: Duration) -> Result<(), EvalError> {
    let mut requests = Requests::new(engine, &workload.data)?;
    let started = Instant::now();
    while started.elapsed() < time {
        for (entrypoint, input) in &workload.inputs {
            std::hint::black_box(requests.run(*entrypoint, input)?);
        }
    }
    Ok(())
}

/// The floor: `null_policy.wat` per request with `{}` data.
///
/// # Errors
///
/// The module's error.
pub fn floor(floor_engine: &Named, budget: Duration) -> Result<Stats, EvalError> {
    per_request(
        floor_engine,
        &merge::empty(),
        Entrypoint::Email,
        &json!({}),
        budget,
    )
}

/// The median phases of per-request evaluations on one engine and entrypoint.
#[derive(Debug, Clone)]
pub struct PhaseRow {
    /// The data: [`RUN_DATA`] (the run's own) or a 1 MiB [`Shape`]'s name.
    pub data: &'static str,
    /// The entrypoint.
    pub entrypoint: Entrypoint,
    /// `opa` (ours), `opa-null` (the floor module) or `opa-null+static` (the floor module with
    /// ours' static data, [`static_data_floor_engine`]).
    pub engine: String,
    /// The median of each phase.
    pub phases: opa::Phases,
    /// How many requests were timed.
    pub samples: usize,
    /// The median minor page faults of each phase ([`opa::OpaEngine::request_faults`]), where
    /// they can be counted.
    pub faults: Option<opa::Phases<u64>>,
}

/// How many requests [`phases`] counts the page faults of.
const FAULT_SAMPLES: usize = 5;

/// Times the phases of per-request evaluations for `budget` (at least [`MIN_SAMPLES`]), then
/// counts their page faults on [`FAULT_SAMPLES`] more requests (apart, so that reading the
/// counter is in no timing). Returns the medians, the number of timed requests, and the
/// median faults where they can be counted.
///
/// # Errors
///
/// The module's error.
pub fn phases(
    engine: &opa::OpaEngine,
    data: &Value,
    entrypoint: Entrypoint,
    input: &Value,
    budget: Duration,
) -> Result<(opa::Phases, usize, Option<opa::Phases<u64>>), EvalError> {
    let runs = samples(budget, || engine.timed_request(data, entrypoint, input))?;
    let mut faults = Vec::with_capacity(FAULT_SAMPLES);
    for _ in 0..FAULT_SAMPLES {
        match engine.request_faults(data, entrypoint, input)? {
            Some(counted) => faults.push(counted),
            None => break,
        }
    }
    let faults = (faults.len() == FAULT_SAMPLES).then(|| median_phases(&faults));
    Ok((median_phases(&runs), runs.len(), faults))
}

/// The median of each phase on its own.
fn median_phases<T: Copy + Ord>(runs: &[opa::Phases<T>]) -> opa::Phases<T> {
    let median = |pick: fn(&opa::Phases<T>) -> T| {
        let mut values: Vec<T> = runs.iter().map(pick).collect();
        values.sort_unstable();
        values[(values.len() - 1) / 2]
    };
    opa::Phases {
        instantiate: median(|p| p.instantiate),
        load_data: median(|p| p.load_data),
        evaluate: median(|p| p.evaluate),
    }
}

/// The total size of a core module's data segments: what each instantiation copies into the
/// fresh linear memory (an imported memory gets no copy-on-write image).
///
/// # Errors
///
/// When the module does not parse.
pub fn data_segment_bytes(wasm: &[u8]) -> anyhow::Result<usize> {
    let mut total = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::DataSection(section) = payload? {
            for segment in section {
                total += segment?.data.len();
            }
        }
    }
    Ok(total)
}

/// The scaling sizes: about 1 KiB, 64 KiB and 1 MiB.
pub const SCALING_SIZES: [usize; 3] = [1024, 64 * 1024, 1024 * 1024];

/// How the phase table names the run's own data (the workload's, or a deployment's).
pub const RUN_DATA: &str = "this run's";

/// The engines of the scaling table: native, the floor module and ours, per request.
///
/// # Errors
///
/// When a module cannot be compiled.
pub fn scaling_engines() -> anyhow::Result<Vec<Box<dyn Engine>>> {
    Ok(vec![
        Box::new(NativeEngine),
        Box::new(floor_engine()?),
        Box::new(opa::OpaEngine::new(opa::Mode::PerRequest)?),
    ])
}

/// One timed case of the main table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The entrypoint.
    pub entrypoint: Entrypoint,
    /// `per request` or `warm`.
    pub mode: &'static str,
    /// The engine's name.
    pub engine: String,
    /// The timing.
    pub stats: Stats,
}

/// One timed case of the scaling table.
#[derive(Debug, Clone)]
pub struct ScalingRow {
    /// The data's shape.
    pub shape: Shape,
    /// The data document's size as JSON, in bytes.
    pub bytes: usize,
    /// The engine's name.
    pub engine: String,
    /// The timing.
    pub stats: Stats,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Where the data came from (`the built-in workload`, a config path).
    pub source: String,
    /// The data document's size as JSON, in bytes.
    pub data_bytes: usize,
    /// The time budget of each measurement.
    pub budget: Duration,
    /// The floor, measured in the same run.
    pub floor: Stats,
    /// Every engine × entrypoint × mode.
    pub rows: Vec<Row>,
    /// The scaling table.
    pub scaling: Vec<ScalingRow>,
    /// The phases of ours and of the floor module, per entrypoint.
    pub phases: Vec<PhaseRow>,
    /// The size of `policy.wasm`'s data segments, in bytes.
    pub data_segment_bytes: usize,
    /// The size of the data segments of the module given to [`run`], if any.
    pub module_data_segment_bytes: Option<usize>,
}

/// An engine for both modes: the per-request one and the warm one (the `opa` engine keeps
/// one instance in its warm mode).
pub type EnginePair = (Box<dyn Engine>, Box<dyn Engine>);

/// Runs every measurement. `module`, when given (a name for its errors, and its bytes), is
/// timed beside ours as [`MODULE`]. `progress` is told what is measured next and how many of
/// `total` measurements are done.
///
/// # Errors
///
/// A `module` that is not a WebAssembly binary wasmtime compiles, named; then the first engine
/// error: the data or an input that an engine refuses.
pub fn run(
    source: &str,
    workload: &Workload,
    engines: &[EnginePair],
    module: Option<(&str, &[u8])>,
    budget: Duration,
    mut progress: impl FnMut(&str, usize, usize),
) -> anyhow::Result<Report> {
    let scaling_engines = scaling_engines()?;
    let module = module
        .map(|(name, wasm)| ModuleUnderTest::new(wasm).with_context(|| name.to_owned()))
        .transpose()?;
    let floor_module = floor_engine()?;
    let data_segment_bytes = data_segment_bytes(policy_artifacts::policy_wasm())?;
    let static_floor = static_data_floor_engine(data_segment_bytes)?;
    let stack_floor = stack_floor_engine()?;
    let ours = Named("opa", opa::OpaEngine::new(opa::Mode::PerRequest)?);
    let mut phase_modules = vec![&floor_module, &static_floor, &stack_floor, &ours];
    phase_modules.extend(module.as_ref().map(|m| &m.per_request));
    let engine_count = engines.len() + usize::from(module.is_some());
    let total = 1
        + engine_count * workload.inputs.len() * 2
        + (workload.inputs.len() + Shape::ALL.len()) * phase_modules.len()
        + Shape::ALL.len() * SCALING_SIZES.len() * scaling_engines.len();
    let mut done = 0;
    let mut step = |what: String| {
        progress(&what, done, total);
        done += 1;
    };
    step("floor".to_owned());
    for engine in &phase_modules {
        warm_up(*engine, workload, WARM_UP)?;
    }
    let floor = floor(&floor_module, budget)?;
    let mut rows = Vec::new();
    for (per_request_engine, warm_engine) in engines.iter().chain(module.as_ref().map(|m| &m.pair))
    {
        warm_up(per_request_engine.as_ref(), workload, WARM_UP)?;
        for (entrypoint, input) in &workload.inputs {
            let name = per_request_engine.name();
            step(format!("{name} {} per request", entrypoint.name()));
            let stats = per_request(
                per_request_engine.as_ref(),
                &workload.data,
                *entrypoint,
                input,
                budget,
            )?;
            rows.push(Row {
                entrypoint: *entrypoint,
                mode: "per request",
                engine: name.to_owned(),
                stats,
            });
            step(format!("{name} {} warm", entrypoint.name()));
            let stats = warm(
                warm_engine.as_ref(),
                &workload.data,
                *entrypoint,
                input,
                budget,
            )?;
            rows.push(Row {
                entrypoint: *entrypoint,
                mode: "warm",
                engine: name.to_owned(),
                stats,
            });
        }
    }
    let phases = phase_rows(workload, &phase_modules, budget, &mut step)?;
    let input = json!({"registration_method": "password", "username": "alice"});
    let mut scaling = Vec::new();
    for shape in Shape::ALL {
        for size in SCALING_SIZES {
            let data = sized_data(shape, size);
            let bytes = data.to_string().len();
            for engine in &scaling_engines {
                step(format!("{} {} {bytes} bytes", engine.name(), shape.name()));
                let stats =
                    per_request(engine.as_ref(), &data, Entrypoint::Register, &input, budget)?;
                scaling.push(ScalingRow {
                    shape,
                    bytes,
                    engine: engine.name().to_owned(),
                    stats,
                });
            }
        }
    }
    Ok(Report {
        source: source.to_owned(),
        data_bytes: workload.data.to_string().len(),
        budget,
        floor,
        rows,
        scaling,
        phases,
        data_segment_bytes,
        module_data_segment_bytes: module.map(|m| m.data_segment_bytes),
    })
}

/// The engine name of a module given to [`run`] (`policy-test bench --module`).
pub const MODULE: &str = "module";

/// A module given to [`run`], timed beside ours as [`MODULE`]: per request and warm in the main
/// table, and in the phase table.
struct ModuleUnderTest {
    pair: EnginePair,
    per_request: Named,
    data_segment_bytes: usize,
}

impl ModuleUnderTest {
    fn new(wasm: &[u8]) -> anyhow::Result<Self> {
        // Only a binary has data segments to count; MAS loads nothing else either.
        if !wasm.starts_with(b"\0asm") {
            anyhow::bail!("not a WebAssembly binary");
        }
        let engine = |mode| opa::OpaEngine::from_bytes(wasm, mode).map(|e| Named(MODULE, e));
        Ok(ModuleUnderTest {
            pair: (
                Box::new(engine(opa::Mode::PerRequest)?),
                Box::new(engine(opa::Mode::Warm)?),
            ),
            per_request: engine(opa::Mode::PerRequest)?,
            data_segment_bytes: data_segment_bytes(wasm)?,
        })
    }
}

/// The phases of the floor module, of the floor module with ours' static data, of the stack
/// floor, of ours and of a given module: every entrypoint on the run's data, and
/// `register/violation` on 1 MiB of each shape.
fn phase_rows(
    workload: &Workload,
    modules: &[&Named],
    budget: Duration,
    step: &mut impl FnMut(String),
) -> anyhow::Result<Vec<PhaseRow>> {
    let mut rows = Vec::new();
    let mut time =
        |data_name: &'static str, data: &Value, entrypoint: Entrypoint, input: &Value| {
            for Named(name, engine) in modules.iter().copied() {
                step(format!(
                    "{name} {} phases on {data_name} data",
                    entrypoint.name()
                ));
                let (phases, samples, faults) = phases(engine, data, entrypoint, input, budget)?;
                rows.push(PhaseRow {
                    data: data_name,
                    entrypoint,
                    engine: (*name).to_owned(),
                    phases,
                    samples,
                    faults,
                });
            }
            anyhow::Ok(())
        };
    for (entrypoint, input) in &workload.inputs {
        time(RUN_DATA, &workload.data, *entrypoint, input)?;
    }
    let input = json!({"registration_method": "password", "username": "alice"});
    for shape in Shape::ALL {
        time(
            shape.name(),
            &sized_data(shape, 1024 * 1024),
            Entrypoint::Register,
            &input,
        )?;
    }
    Ok(rows)
}

/// A duration for people: `812 ns`, `4.68 µs`, `20.2 ms`.
pub fn human(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

impl Report {
    /// The native row of the same entrypoint and mode.
    fn native(&self, row: &Row) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.engine == "native" && r.entrypoint == row.entrypoint && r.mode == row.mode)
    }

    /// The report for people: the floor, the main table with ratios, the scaling table, the
    /// phase table.
    pub fn pretty(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "data: {} ({} bytes); {} ms per measurement; median and p99 of single calls",
            self.source,
            self.data_bytes,
            self.budget.as_millis()
        );
        let _ = writeln!(
            s,
            "floor (null_policy.wat through opa-wasm, {{}} data, per request): median {}, p99 {} ({} samples)\n",
            human(self.floor.median),
            human(self.floor.p99),
            self.floor.samples
        );
        let _ = writeln!(
            s,
            "{:<30} {:<12} {:<10} {:>10} {:>10} {:>8} {:>9} {:>9}",
            "entrypoint", "mode", "engine", "median", "p99", "samples", "/ floor", "/ native"
        );
        for row in &self.rows {
            let to_floor = if row.mode == "per request" {
                format!("{:.2}x", ratio(row.stats.median, self.floor.median))
            } else {
                "-".to_owned()
            };
            let to_native = self.native(row).map_or_else(
                || "-".to_owned(),
                |n| format!("{:.1}x", ratio(row.stats.median, n.stats.median)),
            );
            let _ = writeln!(
                s,
                "{:<30} {:<12} {:<10} {:>10} {:>10} {:>8} {:>9} {:>9}",
                row.entrypoint.name(),
                row.mode,
                row.engine,
                human(row.stats.median),
                human(row.stats.p99),
                row.stats.samples,
                to_floor,
                to_native
            );
        }
        let _ = writeln!(
            s,
            "\nscaling (register/violation per request; / floor is against opa-null on the same data)"
        );
        let _ = writeln!(
            s,
            "{:<20} {:>10} {:<10} {:>10} {:>10} {:>9}",
            "shape", "bytes", "engine", "median", "p99", "/ floor"
        );
        for row in &self.scaling {
            let floor = self
                .scaling
                .iter()
                .find(|r| r.engine == "opa-null" && r.shape == row.shape && r.bytes == row.bytes);
            let to_floor = floor.map_or_else(
                || "-".to_owned(),
                |f| format!("{:.2}x", ratio(row.stats.median, f.stats.median)),
            );
            let _ = writeln!(
                s,
                "{:<20} {:>10} {:<10} {:>10} {:>10} {:>9}",
                row.shape.name(),
                row.bytes,
                row.engine,
                human(row.stats.median),
                human(row.stats.p99),
                to_floor
            );
        }
        self.write_phases(&mut s);
        s
    }

    /// The phase table, appended to `s`.
    fn write_phases(&self, s: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "\nphases per request (medians; this run's data and 1 MiB in each shape; policy.wasm data segments: {} bytes{}; page faults: minor faults of instantiate+load+evaluate, each first write to a 4 KiB page of fresh memory)",
            self.data_segment_bytes,
            self.module_data_segment_bytes
                .map_or_else(String::new, |b| format!(", {MODULE}'s: {b} bytes"))
        );
        let _ = writeln!(
            s,
            "{:<20} {:<30} {:<16} {:>12} {:>10} {:>10} {:>10} {:>16}",
            "data",
            "entrypoint",
            "engine",
            "instantiate",
            "load data",
            "evaluate",
            "sum",
            "page faults"
        );
        for row in &self.phases {
            let p = &row.phases;
            let faults = row.faults.map_or_else(
                || "n/a".to_owned(),
                |f| format!("{}+{}+{}", f.instantiate, f.load_data, f.evaluate),
            );
            let _ = writeln!(
                s,
                "{:<20} {:<30} {:<16} {:>12} {:>10} {:>10} {:>10} {:>16}",
                row.data,
                row.entrypoint.name(),
                row.engine,
                human(p.instantiate),
                human(p.load_data),
                human(p.evaluate),
                human(p.instantiate + p.load_data + p.evaluate),
                faults
            );
        }
    }

    /// The report as one JSON document (times in nanoseconds).
    pub fn json(&self) -> Value {
        let stats = |s: &Stats| json!({"median_ns": s.median.as_nanos(), "p99_ns": s.p99.as_nanos(), "samples": s.samples});
        json!({
            "source": self.source,
            "data_bytes": self.data_bytes,
            "budget_ms": self.budget.as_millis(),
            "floor": stats(&self.floor),
            "rows": self.rows.iter().map(|r| {
                let mut v = json!({
                    "entrypoint": r.entrypoint.name(),
                    "mode": r.mode,
                    "engine": r.engine,
                    "stats": stats(&r.stats),
                });
                if r.mode == "per request" {
                    v["to_floor"] = json!(ratio(r.stats.median, self.floor.median));
                }
                if let Some(n) = self.native(r) {
                    v["to_native"] = json!(ratio(r.stats.median, n.stats.median));
                }
                v
            }).collect::<Vec<_>>(),
            "scaling": self.scaling.iter().map(|r| json!({
                "shape": r.shape.name(),
                "bytes": r.bytes,
                "engine": r.engine,
                "stats": stats(&r.stats),
            })).collect::<Vec<_>>(),
            "data_segment_bytes": self.data_segment_bytes,
            "module_data_segment_bytes": self.module_data_segment_bytes,
            "phases": self.phases.iter().map(|r| json!({
                "data": r.data,
                "entrypoint": r.entrypoint.name(),
                "engine": r.engine,
                "samples": r.samples,
                "instantiate_ns": r.phases.instantiate.as_nanos(),
                "load_data_ns": r.phases.load_data.as_nanos(),
                "evaluate_ns": r.phases.evaluate.as_nanos(),
                "page_faults": r.faults.map(|f| json!({
                    "instantiate": f.instantiate,
                    "load_data": f.load_data,
                    "evaluate": f.evaluate,
                })),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_has_an_input_per_entrypoint_and_sized_data_is_near_its_size() {
        let w = Workload::builtin();
        assert!(w.inputs.iter().all(|(_, input)| input.is_object()));
        for shape in Shape::ALL {
            for size in SCALING_SIZES {
                let len = sized_data(shape, size).to_string().len();
                assert!(
                    len >= size && len < size + size / 4 + 200,
                    "{shape:?} {size}: {len}"
                );
            }
        }
    }

    #[test]
    fn the_static_data_floor_is_the_floor_with_one_more_segment() {
        let wat = static_data_floor_wat(1000);
        assert_eq!(
            wat.matches("(data ").count(),
            NULL_POLICY_WAT.matches("(data ").count() + 1
        );
        assert_eq!(wat.matches("\\ff").count(), 1000);
        let w = Workload::builtin();
        let (floor, padded) = (
            floor_engine().unwrap(),
            static_data_floor_engine(34_000).unwrap(),
        );
        for (entrypoint, input) in &w.inputs {
            let decide = |e: &Named| e.load(&w.data).unwrap().evaluate(*entrypoint, Some(input));
            assert_eq!(decide(&padded).unwrap(), decide(&floor).unwrap());
        }
    }

    /// Each 4 KiB page of static data is one more page fault at instantiation: the counter
    /// sees the pages the copy writes.
    #[cfg(target_os = "linux")]
    #[test]
    fn static_data_pages_are_page_faults_at_instantiation() {
        let w = Workload::builtin();
        let (entrypoint, input) = &w.inputs[0];
        let faults = |e: &Named| {
            let (_, _, faults) = phases(&e.1, &w.data, *entrypoint, input, Duration::ZERO).unwrap();
            faults.expect("linux counts minor faults")
        };
        let (floor, padded) = (
            faults(&floor_engine().unwrap()),
            faults(&static_data_floor_engine(64 * 1024).unwrap()),
        );
        assert!(
            padded.instantiate >= floor.instantiate + 16,
            "{padded:?} against {floor:?}"
        );
    }

    #[test]
    fn measure_keeps_going_until_the_budget_and_the_minimum() {
        let mut calls = 0;
        let stats = measure(Duration::ZERO, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((calls, stats.samples), (MIN_SAMPLES, MIN_SAMPLES));
        assert!(stats.median <= stats.p99);
    }
}
