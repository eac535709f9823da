//! The `opa` engine: the built `policy.wasm` through the `opa-wasm` crate, as MAS runs it.
//!
//! MAS keeps one compiled `Module` and, for every request, creates a fresh `Store`, calls
//! `Runtime::new` (which reads `builtins()` and `entrypoints()`), loads the whole data
//! document with `with_data`, and evaluates once. [`Mode::PerRequest`] does exactly that, so
//! the fixtures and benchmarks exercise the module the way production does. [`Mode::Warm`]
//! keeps one instance with its data loaded, to measure evaluation alone.

use std::time::{Duration, Instant};

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

/// The phases of one per-request evaluation ([`OpaEngine::timed_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// `Store::new` and `Runtime::new`: instantiation (data segments copied into the fresh
    /// memory), then `builtins()` and `entrypoints()` called and dumped.
    pub instantiate: Duration,
    /// `with_data`: the data serialised, copied in and `opa_json_parse`d (compiled, for ours).
    pub load_data: Duration,
    /// `evaluate`: the input copied in, `opa_eval`, the result read back.
    pub evaluate: Duration,
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
        self.runtime.block_on(async {
            let started = Instant::now();
            let mut store = Store::new(&self.engine, ());
            let runtime = self.new_runtime(&mut store).await?;
            let instantiated = Instant::now();
            let policy = load_data(runtime, &mut store, data).await?;
            let loaded = Instant::now();
            std::hint::black_box(
                evaluate_once(&mut store, &policy, entrypoint, Some(input)).await?,
            );
            let evaluated = Instant::now();
            Ok(Phases {
                instantiate: instantiated - started,
                load_data: loaded - instantiated,
                evaluate: evaluated - loaded,
            })
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
