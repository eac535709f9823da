//! The `component` engine: the policy component run by our wasmtime host runner.
//!
//! Compiled once; instantiated through an `InstancePre` (linking is resolved once, and the
//! component imports nothing, so there is nothing to link).
//!
//! **Reuse policy.** One instance per loaded data document, kept and reused for every
//! evaluation: the data is validated and compiled once inside the instance, and an
//! evaluation then costs only the input parse and the rules. Per-request instantiation would
//! pay the data load again on every call. An instance is thrown away after any trap, limit hit
//! or invalid result (a trapped component instance cannot be entered again) and a fresh one is
//! loaded with the same data on the next call.
//!
//! **Fail closed.** Traps, fuel or deadline exhaustion, memory caps and results that do not
//! hold together all become [`EvalError`]s; the caller's decision is deny.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use anyhow::Context as _;
use policy_rules::{Entrypoint, value::compare};
use serde_json::Value;
use wasmtime::{
    Config, Engine as WasmEngine, Store, StoreLimits, StoreLimitsBuilder,
    component::{Component, Linker, ResourceAny},
};

use super::{Engine, EvalError, LoadedPolicy};
use crate::limits::Limits;

mod bindings {
    wasmtime::component::bindgen!({
        world: "policy",
        path: "../wit",
    });
}

use bindings::{Policy as Bindings, PolicyPre, exports::openmeet::mas_policy::evaluator};

/// Per-store state: the memory and instance caps.
pub struct State {
    limits: StoreLimits,
}

/// Advances the engine's epoch every [`Limits::EPOCH_TICK`] while the engine lives.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: &WasmEngine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                thread::sleep(Limits::EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs the policy component under [`Limits`].
pub struct ComponentEngine {
    engine: WasmEngine,
    pre: PolicyPre<State>,
    limits: Limits,
    _ticker: Option<Ticker>,
}

fn config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(limits.fuel.is_some());
    config.epoch_interruption(limits.deadline.is_some());
    config
}

impl ComponentEngine {
    /// Compiles the policy component built with this workspace.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile or pre-instantiate it.
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        Self::from_bytes(policy_artifacts::policy_component(), limits)
    }

    /// Compiles a component of the `policy` world.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile it, or it does not fit the world (it imports something,
    /// or lacks an export).
    pub fn from_bytes(wasm: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let engine = WasmEngine::new(&config(&limits))
            .map_err(|e| anyhow::anyhow!("cannot start wasmtime: {e}"))?;
        let component = Component::new(&engine, wasm)
            .map_err(|e| anyhow::anyhow!("cannot compile the policy component: {e}"))?;
        Self::with_component(engine, &component, limits)
    }

    /// Compiles a component ahead of time into an artifact for [`Self::from_precompiled`],
    /// with the settings `limits` implies (fuel and epochs change the generated code).
    ///
    /// # Errors
    ///
    /// When wasmtime cannot compile it.
    pub fn precompile(wasm: &[u8], limits: &Limits) -> anyhow::Result<Vec<u8>> {
        let engine = WasmEngine::new(&config(limits))
            .map_err(|e| anyhow::anyhow!("cannot start wasmtime: {e}"))?;
        engine
            .precompile_component(wasm)
            .map_err(|e| anyhow::anyhow!("cannot precompile the policy component: {e}"))
    }

    /// Loads an artifact made by [`Self::precompile`] with the same `limits` settings.
    ///
    /// # Errors
    ///
    /// When the artifact was made by another wasmtime version or with other settings.
    ///
    /// # Safety
    ///
    /// wasmtime runs the artifact's machine code as is: it must come from
    /// [`Self::precompile`] and must not have been tampered with.
    #[expect(
        unsafe_code,
        reason = "wasmtime cannot verify precompiled machine code"
    )]
    pub unsafe fn from_precompiled(artifact: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let engine = WasmEngine::new(&config(&limits))
            .map_err(|e| anyhow::anyhow!("cannot start wasmtime: {e}"))?;
        // SAFETY: the caller vouches that the artifact is ours and untampered.
        let component = unsafe { Component::deserialize(&engine, artifact) }
            .map_err(|e| anyhow::anyhow!("cannot load the precompiled component: {e}"))?;
        Self::with_component(engine, &component, limits)
    }

    /// Uses the precompiled artifact at `path` when it loads, and otherwise compiles `wasm`
    /// and writes the artifact there for next time. Compiling takes tens of milliseconds;
    /// loading an artifact well under one.
    ///
    /// An artifact that wasmtime refuses (another wasmtime version, other settings) is
    /// replaced, not an error.
    ///
    /// # Errors
    ///
    /// When `wasm` cannot be compiled or the artifact cannot be written.
    ///
    /// # Safety
    ///
    /// As [`Self::from_precompiled`]: `path` must only ever hold artifacts this method wrote
    /// (keep it in a directory only this host can write).
    #[expect(
        unsafe_code,
        reason = "wasmtime cannot verify precompiled machine code"
    )]
    pub unsafe fn with_cache(wasm: &[u8], path: &Path, limits: Limits) -> anyhow::Result<Self> {
        if let Ok(artifact) = std::fs::read(path) {
            // SAFETY: the caller vouches that only this method writes `path`.
            if let Ok(engine) = unsafe { Self::from_precompiled(&artifact, limits) } {
                return Ok(engine);
            }
        }
        let artifact = Self::precompile(wasm, &limits)?;
        std::fs::write(path, &artifact).with_context(|| {
            format!(
                "cannot write the precompiled component to {}",
                path.display()
            )
        })?;
        // SAFETY: the artifact was made just above by this wasmtime with these settings.
        unsafe { Self::from_precompiled(&artifact, limits) }
    }

    fn with_component(
        engine: WasmEngine,
        component: &Component,
        limits: Limits,
    ) -> anyhow::Result<Self> {
        let linker = Linker::<State>::new(&engine);
        let pre = linker
            .instantiate_pre(component)
            .and_then(PolicyPre::new)
            .map_err(|e| anyhow::anyhow!("the component does not fit the policy world: {e}"))?;
        let ticker = limits.deadline.is_some().then(|| Ticker::start(&engine));
        Ok(ComponentEngine {
            engine,
            pre,
            limits,
            _ticker: ticker,
        })
    }

    /// The entrypoints the component reports.
    ///
    /// # Errors
    ///
    /// When it cannot be instantiated or the call fails.
    pub fn entrypoints(&self) -> anyhow::Result<Vec<String>> {
        let mut store = self.store()?;
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| anyhow::anyhow!("cannot instantiate: {e}"))?;
        bindings
            .openmeet_mas_policy_evaluator()
            .call_entrypoints(&mut store)
            .map_err(|e| anyhow::anyhow!("entrypoints failed: {e}"))
    }

    /// A store with the caps set; fuel and deadline are set per call.
    fn store(&self) -> anyhow::Result<Store<State>> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(self.limits.instances)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, State { limits });
        store.limiter(|state| &mut state.limits);
        self.arm(&mut store).context("cannot set fuel")?;
        Ok(store)
    }

    /// Refills the fuel and restarts the deadline for the next call.
    fn arm(&self, store: &mut Store<State>) -> anyhow::Result<()> {
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| anyhow::anyhow!("cannot set fuel: {e}"))?;
        }
        if let Some(ticks) = self.limits.deadline_ticks() {
            store.set_epoch_deadline(ticks);
        }
        Ok(())
    }

    /// Instantiates and loads `data_json` into a fresh instance.
    fn instantiate(&self, data_json: &str) -> Result<Live, EvalError> {
        let engine_error =
            |what: &str, e: wasmtime::Error| EvalError::Engine(format!("{what}: {}", one_line(&e)));
        let mut store = self
            .store()
            .map_err(|e| EvalError::Engine(format!("{e:#}")))?;
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| engine_error("cannot instantiate the component", e))?;
        let handle = bindings
            .openmeet_mas_policy_evaluator()
            .policy()
            .call_load(&mut store, data_json)
            .map_err(|e| engine_error("data load trapped", e))?
            .map_err(|e| match e {
                evaluator::Error::InvalidData(msg) => EvalError::Data(msg),
                other => EvalError::Engine(format!("data load failed: {other:?}")),
            })?;
        Ok(Live {
            store,
            bindings,
            handle,
        })
    }
}

/// A wasmtime error on one line: the trap or limit that stopped the guest (for example
/// `all fuel consumed by WebAssembly` or `interrupt`), without the wasm backtrace.
fn one_line(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    // A trap's outer context is the wasm backtrace; the cause says what happened.
    e.chain()
        .map(ToString::to_string)
        .filter(|text| !text.starts_with("error while executing at wasm backtrace"))
        .find_map(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| e.to_string())
}

impl Engine for ComponentEngine {
    fn name(&self) -> &'static str {
        "component"
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        let data_json = json_text(data);
        let live = self.instantiate(&data_json)?;
        Ok(Box::new(ComponentPolicy {
            engine: self,
            data_json,
            live: Some(live),
        }))
    }
}

/// An instance with its data loaded.
struct Live {
    store: Store<State>,
    bindings: Bindings,
    handle: ResourceAny,
}

struct ComponentPolicy<'e> {
    engine: &'e ComponentEngine,
    data_json: String,
    /// `None` after a failure poisoned the instance; the next call makes a new one.
    live: Option<Live>,
}

impl LoadedPolicy for ComponentPolicy<'_> {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        let mut live = match self.live.take() {
            Some(live) => live,
            None => self.engine.instantiate(&self.data_json)?,
        };
        self.engine
            .arm(&mut live.store)
            .map_err(|e| EvalError::Engine(format!("{e:#}")))?;
        let input_json = input.map(json_text).unwrap_or_default();
        let result = live
            .bindings
            .openmeet_mas_policy_evaluator()
            .policy()
            .call_evaluate(&mut live.store, live.handle, entrypoint.name(), &input_json);
        let violations = match result {
            // A trap or a limit hit: the instance cannot be entered again, so it is dropped.
            Err(e) => {
                return Err(EvalError::Engine(format!(
                    "evaluation trapped: {}",
                    one_line(&e)
                )));
            }
            Ok(Err(e)) => {
                self.live = Some(live);
                return Err(EvalError::Engine(match e {
                    evaluator::Error::InvalidInput(msg) | evaluator::Error::InvalidData(msg) => msg,
                    evaluator::Error::UnknownEntrypoint(name) => {
                        format!("unknown entrypoint `{name}`")
                    }
                }));
            }
            Ok(Ok(violations)) => violations,
        };
        // A result that does not hold together is treated like a trap.
        let checked = check_result(&violations)?;
        self.live = Some(live);
        Ok(checked)
    }
}

/// `value` as JSON text, written through `Display` into a string that starts at 128 bytes.
/// `Value::to_string` grows its string from nothing (five reallocations and copies for a
/// typical input: 1,600 of a warm `email` evaluation's 19,400 host instructions), and
/// `serde_json::to_string` is generic, so it would be compiled with this crate's settings:
/// unoptimised in test builds, where a 10 MB input then takes long enough to meet the deadline.
fn json_text(value: &Value) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(128);
    write!(text, "{value}").unwrap_or_else(|_| unreachable!("a JSON value always prints"));
    text
}

/// Turns the typed violations back into JSON objects, refusing any that contradict their own
/// `object-json`, that MAS could not read, or that are out of canonical order.
fn check_result(violations: &[evaluator::Violation]) -> Result<Vec<Value>, EvalError> {
    let invalid =
        |why: String| EvalError::Engine(format!("invalid result from the component: {why}"));
    let mut out = Vec::with_capacity(violations.len());
    for v in violations {
        let object: Value = serde_json::from_str(&v.object_json)
            .map_err(|e| invalid(format!("object-json is not JSON: {e}")))?;
        let text = |key: &str| object.get(key).and_then(Value::as_str);
        let consistent = object.is_object()
            && text("msg") == Some(v.msg.as_str())
            && text("code") == v.code.as_deref()
            && text("field") == v.field.as_deref()
            && object.get("redirect_uri").and_then(Value::as_str) == v.redirect_uri.as_deref()
            && object.get("need_to_remove").and_then(Value::as_u64) == v.need_to_remove;
        if !consistent {
            return Err(invalid(format!(
                "typed fields disagree with object-json `{}`",
                v.object_json
            )));
        }
        out.push(object);
    }
    let sorted_set = out
        .windows(2)
        .all(|pair| compare(&pair[0], &pair[1]) == std::cmp::Ordering::Less);
    if !sorted_set {
        return Err(invalid("violations are not a sorted set".to_owned()));
    }
    Ok(out)
}
