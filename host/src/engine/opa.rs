//! The `opa` engine: the built `policy.wasm` through the `opa-wasm` crate, as MAS runs it.
//!
//! MAS keeps one compiled `Module` and, for every request, creates a fresh `Store`, calls
//! `Runtime::new` (which reads `builtins()` and `entrypoints()`), loads the whole data
//! document with `with_data`, and evaluates once. [`Mode::PerRequest`] does exactly that, so
//! the fixtures and benchmarks exercise the module the way production does. [`Mode::Warm`]
//! keeps one instance with its data loaded, to measure evaluation alone.

use std::{
    ops::Sub,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use opa_wasm::{
    Runtime,
    wasmtime::{Config, Engine as WasmEngine, Module, OptLevel, Store},
};
use policy_rules::Entrypoint;
use serde_json::Value;

use super::{Engine, EvalError, LoadedPolicy, violations_from_result_set};

/// How the `opa` engine instantiates the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fresh store, runtime and data load per evaluation, as MAS does.
    PerRequest,
    /// One instance per data load, reused for every evaluation.
    Warm,
}

/// The phases of one per-request evaluation ([`OpaEngine::timed_request`]), each a time or
/// ([`OpaEngine::request_faults`]) a count of page faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases<T = Duration> {
    /// `Store::new` and `Runtime::new`: instantiation (data segments copied into the fresh
    /// memory), then `builtins()` and `entrypoints()` called and dumped.
    pub instantiate: T,
    /// `with_data`: the data serialised, copied in and `opa_json_parse`d (compiled, for ours).
    pub load_data: T,
    /// `evaluate`: the input copied in, `opa_eval`, the result read back.
    pub evaluate: T,
}

/// Runs `policy.wasm` through opa-wasm.
pub struct OpaEngine {
    engine: WasmEngine,
    module: Module,
    mode: Mode,
    runtime: tokio::runtime::Runtime,
}

impl OpaEngine {
    /// Compiles the `policy.wasm` built with this workspace.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile the module.
    pub fn new(mode: Mode) -> anyhow::Result<Self> {
        Self::from_bytes(policy_artifacts::policy_wasm(), mode)
    }

    /// Compiles a given OPA-ABI module.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile the module.
    pub fn from_bytes(wasm: &[u8], mode: Mode) -> anyhow::Result<Self> {
        // MAS's own engine configuration (`PolicyFactory::load`).
        let mut config = Config::new();
        config.cranelift_opt_level(OptLevel::SpeedAndSize);
        let engine =
            WasmEngine::new(&config).map_err(|e| anyhow::anyhow!("cannot start wasmtime: {e}"))?;
        let module = Module::new(&engine, wasm)
            .map_err(|e| anyhow::anyhow!("failed to compile WASM module: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .context("cannot start the async runtime")?;
        Ok(OpaEngine {
            engine,
            module,
            mode,
            runtime,
        })
    }

    /// The entrypoints the module reports, as `Runtime::new` reads them.
    ///
    /// # Errors
    ///
    /// When the module cannot be instantiated.
    pub fn entrypoints(&self) -> anyhow::Result<Vec<String>> {
        self.runtime.block_on(async {
            let mut store = Store::new(&self.engine, ());
            let runtime = Runtime::new(&mut store, &self.module).await?;
            let mut names: Vec<String> = runtime
                .entrypoints()
                .into_iter()
                .map(str::to_owned)
                .collect();
            names.sort();
            Ok(names)
        })
    }

    /// One request on MAS's path, with each phase timed apart: `Runtime::new` (the store, the
    /// module instantiated, `builtins()` and `entrypoints()` read), `with_data` (the data
    /// document copied in and parsed), and the one evaluation. Dropping the store is in none.
    ///
    /// # Errors
    ///
    /// The module's error in any phase.
    pub fn timed_request(
        &self,
        data: &Value,
        entrypoint: Entrypoint,
        input: &Value,
    ) -> Result<Phases, EvalError> {
        self.marked_request(Instant::now, data, entrypoint, input)
            .map(between)
    }

    /// The minor page faults this thread takes in each phase of one request, as
    /// [`OpaEngine::timed_request`] splits it. Every 4 KiB page of a fresh linear memory is
    /// mapped on its first write, and each of those faults costs about as much as a small
    /// evaluation, so this counts what a phase's time is partly made of. `None` where the
    /// count cannot be read (outside Linux).
    ///
    /// # Errors
    ///
    /// The module's error in any phase.
    pub fn request_faults(
        &self,
        data: &Value,
        entrypoint: Entrypoint,
        input: &Value,
    ) -> Result<Option<Phases<u64>>, EvalError> {
        let marks = self.marked_request(minor_faults, data, entrypoint, input)?;
        let [Some(a), Some(b), Some(c), Some(d)] = marks else {
            return Ok(None);
        };
        Ok(Some(between([a, b, c, d])))
    }

    /// One request on MAS's path, with `mark` taken before it and after each phase.
    fn marked_request<T>(
        &self,
        mut mark: impl FnMut() -> T,
        data: &Value,
        entrypoint: Entrypoint,
        input: &Value,
    ) -> Result<[T; 4], EvalError> {
        self.runtime.block_on(async {
            let started = mark();
            let mut store = Store::new(&self.engine, ());
            let runtime = self.new_runtime(&mut store).await?;
            let instantiated = mark();
            let policy = load_data(runtime, &mut store, data).await?;
            let loaded = mark();
            std::hint::black_box(
                evaluate_once(&mut store, &policy, entrypoint, Some(input)).await?,
            );
            Ok([started, instantiated, loaded, mark()])
        })
    }

    async fn instantiate(
        &self,
        store: &mut Store<()>,
        data: &Value,
    ) -> Result<opa_wasm::Policy<opa_wasm::DefaultContext>, EvalError> {
        let runtime = self.new_runtime(store).await?;
        load_data(runtime, store, data).await
    }

    /// `Runtime::new`: the module instantiated, `builtins()` and `entrypoints()` read.
    async fn new_runtime(
        &self,
        store: &mut Store<()>,
    ) -> Result<Runtime<opa_wasm::DefaultContext>, EvalError> {
        Runtime::new(&mut *store, &self.module)
            .await
            .map_err(|e| EvalError::Engine(error_text(&e)))
    }
}

/// The phases between four marks: before the request and after each phase.
fn between<T: Copy + Sub<Output = U>, U>(
    [started, instantiated, loaded, evaluated]: [T; 4],
) -> Phases<U> {
    Phases {
        instantiate: instantiated - started,
        load_data: loaded - instantiated,
        evaluate: evaluated - loaded,
    }
}

/// The minor page faults the calling thread has taken so far (the tenth field of
/// `/proc/thread-self/stat`, after the command name, which may hold spaces); `None` when it
/// cannot be read. The runtime is single-threaded, so a request's faults are all this thread's.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// `with_data`: the data document copied in and parsed; the module's refusal is a data error.
async fn load_data(
    runtime: Runtime<opa_wasm::DefaultContext>,
    store: &mut Store<()>,
    data: &Value,
) -> Result<opa_wasm::Policy<opa_wasm::DefaultContext>, EvalError> {
    runtime
        .with_data(&mut *store, data)
        .await
        .map_err(|e| EvalError::Data(error_text(&e)))
}

impl Engine for OpaEngine {
    fn name(&self) -> &'static str {
        match self.mode {
            Mode::PerRequest => "opa",
            Mode::Warm => "opa-warm",
        }
    }

    fn evaluation_is_a_request(&self) -> bool {
        self.mode == Mode::PerRequest
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        // MAS test-instantiates new data before using it; so does this engine.
        let mut store = Store::new(&self.engine, ());
        let policy = self.runtime.block_on(self.instantiate(&mut store, data))?;
        Ok(match self.mode {
            Mode::PerRequest => Box::new(PerRequest {
                engine: self,
                data: data.clone(),
            }),
            Mode::Warm => Box::new(Warm {
                engine: self,
                store,
                policy,
            }),
        })
    }
}

async fn evaluate_once(
    store: &mut Store<()>,
    policy: &opa_wasm::Policy<opa_wasm::DefaultContext>,
    entrypoint: Entrypoint,
    input: Option<&Value>,
) -> Result<Vec<Value>, EvalError> {
    let result: Value = policy
        .evaluate(
            &mut *store,
            entrypoint.name(),
            &input.unwrap_or(&Value::Null),
        )
        .await
        .map_err(|e| EvalError::Engine(error_text(&e)))?;
    violations_from_result_set(result)
}

/// The root cause of an opa-wasm error: for an `opa_abort` that is the module's own message,
/// without the wasm backtrace wasmtime wraps around it.
fn error_text(e: &anyhow::Error) -> String {
    e.root_cause().to_string()
}

struct PerRequest<'e> {
    engine: &'e OpaEngine,
    data: Value,
}

impl LoadedPolicy for PerRequest<'_> {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        self.engine.runtime.block_on(async {
            let mut store = Store::new(&self.engine.engine, ());
            let policy = self.engine.instantiate(&mut store, &self.data).await?;
            evaluate_once(&mut store, &policy, entrypoint, input).await
        })
    }
}

struct Warm<'e> {
    engine: &'e OpaEngine,
    store: Store<()>,
    policy: opa_wasm::Policy<opa_wasm::DefaultContext>,
}

impl LoadedPolicy for Warm<'_> {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        self.engine.runtime.block_on(evaluate_once(
            &mut self.store,
            &self.policy,
            entrypoint,
            input,
        ))
    }
}
