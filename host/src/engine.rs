//! One trait over every way of evaluating the policy.
//!
//! The differential runner, the CLI and the benchmarks only see [`Engine`]: an engine loads a
//! data document into a [`LoadedPolicy`], which then evaluates inputs. Each engine decides
//! what "load" costs; the `opa` engine, for one, re-instantiates per request as MAS does.
//! Every failure is an [`EvalError`], and callers treat any error as a deny (fail closed).
//!
//! # Threads
//!
//! Every engine type is `Send` and `Sync`: a server compiles one engine and shares it (by
//! reference or in an `Arc`) between its threads, and each thread loads its own policies.
//! `tests/all/load.rs` runs 8 threads against one engine, with reloads, and checks every
//! decision against a single thread's.
//! - [`native::NativeEngine`] holds nothing.
//! - [`component::ComponentEngine`] holds a wasmtime `Engine` and `InstancePre`, which wasmtime
//!   makes `Send + Sync` for sharing: compiled code and resolved links are read-only. Each load
//!   makes its own `Store` and instance.
//! - [`opa::OpaEngine`] holds a wasmtime `Engine` and `Module` (likewise), and a current-thread
//!   tokio runtime whose `block_on` each thread calls for its own futures (opa-wasm's calls
//!   never wait on I/O). Each load makes its own `Store` and instance.
//! - [`rego::RegoEngine`] holds the compiled program (`Arc`, read-only) and the last loaded
//!   document behind a `Mutex`, held only while a load compares or replaces it.
//!
//! A [`LoadedPolicy`] is not `Send`: it owns a store or a VM with mutable state, and stays on
//! the thread that loaded it. One per thread (or per request) is the intended use.

pub mod component;
pub mod native;
pub mod opa;
pub mod rego;

use std::fmt;

use policy_rules::{
    Entrypoint, PolicyData,
    value::{depth_within_limit, too_deep_message},
};
use serde_json::Value;

/// Why an engine produced no decision. Callers must deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// The policy data was refused at load (invalid regex, CIDR, `server_name`, …).
    Data(String),
    /// The engine failed: a trap, an abort, a result of the wrong shape.
    Engine(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Data(msg) => write!(f, "policy data refused: {msg}"),
            EvalError::Engine(msg) => write!(f, "evaluation failed: {msg}"),
        }
    }
}

impl std::error::Error for EvalError {}

/// A policy engine.
pub trait Engine {
    /// The engine's name on the command line (`native`, `opa`, …).
    fn name(&self) -> &'static str;

    /// Loads (validates and compiles) a merged data document.
    ///
    /// # Errors
    ///
    /// [`EvalError::Data`] when the data is refused; [`EvalError::Engine`] when the engine
    /// itself fails.
    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError>;

    /// Whether each evaluation of a loaded policy is already a whole request: a fresh
    /// instance, the data loaded into it, one evaluation (the `opa` engine per request, as MAS
    /// runs `policy.wasm`). A benchmark of requests then loads once ahead, instead of paying a
    /// second instantiation for the load's own check of the data.
    fn evaluation_is_a_request(&self) -> bool {
        false
    }
}

/// A policy with its data loaded, ready to evaluate inputs.
pub trait LoadedPolicy {
    /// Evaluates one entrypoint; `None` is no input document.
    ///
    /// # Errors
    ///
    /// Any engine failure. The decision is then a deny.
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError>;
}

/// The engines this build can run, by name.
pub const ENGINE_NAMES: [&str; 4] = ["native", "component", "opa", "rego"];

/// Validates and compiles a merged data document the way `policy.wasm` does, for the engines
/// that run in the host process (`native`, `rego`): first the nesting limit, then the Rust data
/// loader (regexes, CIDRs, `server_name`; decision D5). So every engine refuses the same data
/// with the same message.
///
/// # Errors
///
/// [`EvalError::Data`] naming the first problem.
pub fn compile_data(data: &Value) -> Result<PolicyData, EvalError> {
    if !depth_within_limit(data) {
        return Err(EvalError::Data(too_deep_message("document")));
    }
    PolicyData::compile(Some(data)).map_err(|e| EvalError::Data(e.to_string()))
}

/// Refuses an input nested deeper than `policy.wasm` accepts, as the in-process engines must
/// to agree with it.
///
/// # Errors
///
/// [`EvalError::Engine`] when the input is too deep.
pub fn check_input(input: Option<&Value>) -> Result<(), EvalError> {
    if input.is_some_and(|i| !depth_within_limit(i)) {
        return Err(EvalError::Engine(too_deep_message("input")));
    }
    Ok(())
}

/// Whether two results are the same decision: the same violations, or the same kind of failure
/// with the same message. Engines wrap messages differently (`policy.wasm` reports an abort
/// with its own prefix), so one message containing the other counts as the same; an empty
/// message matches nothing.
///
/// The fixture runner, the differential tests, the load test and the fuzz checks all compare
/// engines with this one function.
pub fn same_decision(a: &Result<Vec<Value>, EvalError>, b: &Result<Vec<Value>, EvalError>) -> bool {
    let overlap =
        |a: &str, b: &str| !a.is_empty() && !b.is_empty() && (a.contains(b) || b.contains(a));
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(EvalError::Data(a)), Err(EvalError::Data(b)))
        | (Err(EvalError::Engine(a)), Err(EvalError::Engine(b))) => overlap(a, b),
        _ => false,
    }
}

/// One input decided by several engines: the first engine's result, and the engines (by
/// name) whose result is not the same decision ([`same_decision`]).
#[derive(Debug)]
pub struct Comparison {
    /// The first engine's result, the reference.
    pub first: Result<Vec<Value>, EvalError>,
    /// The other engines that decided otherwise, with what they gave.
    pub disagreeing: Vec<(&'static str, Result<Vec<Value>, EvalError>)>,
}

/// Evaluates one input on policies loaded by `engines` (in the same order; a failed load
/// gives its error as the result) and compares each with the first. The differential test and
/// the engines fuzz target cross-check engines with this.
///
/// # Panics
///
/// When `engines` is empty.
pub fn compare_loaded(
    engines: &[Box<dyn Engine>],
    loaded: &mut [Result<Box<dyn LoadedPolicy + '_>, EvalError>],
    entrypoint: Entrypoint,
    input: Option<&Value>,
) -> Comparison {
    let mut results = loaded.iter_mut().map(|policy| match policy {
        Ok(policy) => policy.evaluate(entrypoint, input),
        Err(e) => Err(e.clone()),
    });
    let first = results.next().expect("at least one engine");
    let disagreeing = engines[1..]
        .iter()
        .zip(results)
        .filter(|(_, result)| !same_decision(&first, result))
        .map(|(engine, result)| (engine.name(), result))
        .collect();
    Comparison { first, disagreeing }
}

/// Where the engines load their artifacts from, instead of the copies built into the binary.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    /// A bundle folder (`policy-test build`): `policy.wasm`, `policy.component.wasm`, `rego/`.
    pub bundle: Option<std::path::PathBuf>,
    /// Any OPA-ABI module for the `opa` engine (MAS's own `policy.wasm`, say); wins over the
    /// bundle's.
    pub wasm: Option<std::path::PathBuf>,
}

/// Creates an engine by name, loading its artifact as `artifacts` says.
///
/// # Errors
///
/// An unknown name, an unreadable artifact, or an engine that cannot start.
pub fn by_name_from(name: &str, artifacts: &Artifacts) -> anyhow::Result<Box<dyn Engine>> {
    use anyhow::Context as _;
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let in_bundle = |file: &str| artifacts.bundle.as_ref().map(|dir| dir.join(file));
    match name {
        "opa" => match artifacts.wasm.clone().or_else(|| in_bundle("policy.wasm")) {
            Some(path) => Ok(Box::new(
                opa::OpaEngine::from_bytes(&read(&path)?, opa::Mode::PerRequest)
                    .with_context(|| path.display().to_string())?,
            )),
            None => by_name(name),
        },
        "component" => match in_bundle("policy.component.wasm") {
            Some(path) => Ok(Box::new(
                component::ComponentEngine::from_bytes(
                    &read(&path)?,
                    crate::limits::Limits::default(),
                )
                .with_context(|| path.display().to_string())?,
            )),
            None => by_name(name),
        },
        "rego" => match in_bundle("rego") {
            Some(dir) => Ok(Box::new(rego::RegoEngine::from_dir(
                &dir,
                rego::DEFAULT_TIME_LIMIT,
            )?)),
            None => by_name(name),
        },
        _ => by_name(name),
    }
}

/// Creates an engine by name, with the artifacts built into the binary.
///
/// # Errors
///
/// An unknown name, or an engine that cannot start (for example a module that fails to
/// compile).
pub fn by_name(name: &str) -> anyhow::Result<Box<dyn Engine>> {
    match name {
        "native" => Ok(Box::new(native::NativeEngine)),
        "component" => Ok(Box::new(component::ComponentEngine::new(
            crate::limits::Limits::default(),
        )?)),
        "opa" => Ok(Box::new(opa::OpaEngine::new(opa::Mode::PerRequest)?)),
        "rego" => Ok(Box::new(rego::RegoEngine::new()?)),
        other => anyhow::bail!(
            "unknown engine `{other}`; expected one of: {}",
            ENGINE_NAMES.join(", ")
        ),
    }
}

/// Reads the violation array out of an OPA result document, `[{"result": V}]`, rejecting
/// every other shape as MAS does.
///
/// # Errors
///
/// [`EvalError::Engine`] when the document is not exactly one result holding an array.
pub fn violations_from_result_set(document: Value) -> Result<Vec<Value>, EvalError> {
    let Value::Array(mut results) = document else {
        return Err(EvalError::Engine("result set is not an array".to_owned()));
    };
    if results.len() != 1 {
        return Err(EvalError::Engine(format!(
            "expected exactly one result, got {}",
            results.len()
        )));
    }
    match results.pop() {
        Some(Value::Object(mut entry)) => match entry.remove("result") {
            Some(Value::Array(violations)) => Ok(violations),
            _ => Err(EvalError::Engine("result is not an array".to_owned())),
        },
        _ => Err(EvalError::Engine(
            "result entry is not an object".to_owned(),
        )),
    }
}
