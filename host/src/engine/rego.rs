//! The `rego` engine: our Rego twin (`policies/rego`) evaluated by regorus.
//!
//! The Rego is the only second implementation of the rules; the differential tests keep it
//! equal to the Rust rules. Policies are parsed once into a prepared regorus engine, which is
//! cloned for each data load, so no evaluation re-parses Rego. regorus analyses the policies
//! again after `add_data` (its first evaluation of a new data document costs a few
//! milliseconds); evaluations of a loaded document after the first reuse that analysis.
//!
//! Data reaches the Rego the way it reaches the other engines: validated first by the Rust
//! data loader (invalid regexes and CIDRs, `server_name`, nesting depth — decision D5 belongs
//! to the loader, the Rego may assume valid data), then added to regorus as `data`, merged as
//! MAS merges it (the caller passes the merged document).
//!
//! Limits: every evaluation runs under regorus's execution timer ([`DEFAULT_TIME_LIMIT`]), so a
//! pathological evaluation cannot hang the host. There is no memory limit: regorus 0.14 limits
//! memory only through its `allocator-memory-limits` feature, which needs its mimalloc fork
//! installed as the process-wide global allocator and caps the whole process, not one engine
//! (and its per-execution budgets exist only for the RVM, not for this interpreter).

use std::{
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use policy_rules::{Entrypoint, value::canonicalize};
use regorus::utils::limits::ExecutionTimerConfig;
use serde::Deserialize as _;
use serde_json::Value;

use super::{Engine, EvalError, LoadedPolicy, check_input, compile_data};

/// Where the Rego twin lives in this repository.
pub fn default_policy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/rego")
}

/// The `.rego` files of a directory, sorted; test files (`*_test.rego`) only when asked.
///
/// # Errors
///
/// When the directory cannot be read.
pub fn rego_files(dir: &Path, tests: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_rego = path.extension().is_some_and(|ext| ext == "rego");
        if is_rego && (tests || !name.ends_with("_test.rego")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The wall-clock limit of one regorus evaluation. By default 1 second.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(1);

/// How many interpreter steps regorus takes between two clock reads of the execution timer.
/// A step is microseconds at most, so the limit is overshot by well under a millisecond; reading
/// the clock at every step costs about 15% of a warm evaluation.
const TIMER_CHECK_INTERVAL: NonZeroU32 = NonZeroU32::new(100).expect("nonzero");

/// Evaluates the Rego twin with regorus.
pub struct RegoEngine {
    prepared: regorus::Engine,
}

impl RegoEngine {
    /// Parses the Rego twin in [`default_policy_dir`].
    ///
    /// # Errors
    ///
    /// When a file cannot be read or does not parse.
    pub fn new() -> anyhow::Result<Self> {
        Self::from_dir(&default_policy_dir(), DEFAULT_TIME_LIMIT)
    }

    /// Parses the policies (not the tests) of `dir`, with `time_limit` per evaluation.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or does not parse.
    pub fn from_dir(dir: &Path, time_limit: Duration) -> anyhow::Result<Self> {
        let mut prepared = prepared_engine(time_limit);
        for file in rego_files(dir, false)? {
            prepared
                .add_policy_from_file(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        }
        Ok(RegoEngine { prepared })
    }
}

/// A regorus engine in Rego v1 mode with the execution timer set.
pub(crate) fn prepared_engine(time_limit: Duration) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(false);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: time_limit,
        check_interval: TIMER_CHECK_INTERVAL,
    });
    engine
}

/// A JSON value as a regorus value.
pub(crate) fn to_regorus(v: &Value) -> Result<regorus::Value, String> {
    regorus::Value::deserialize(v).map_err(|e| e.to_string())
}

impl Engine for RegoEngine {
    fn name(&self) -> &'static str {
        "rego"
    }

    fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
        compile_data(data)?;
        let mut engine = self.prepared.clone();
        engine
            .add_data(to_regorus(data).map_err(EvalError::Data)?)
            .map_err(|e| EvalError::Data(e.to_string()))?;
        Ok(Box::new(RegoPolicy(engine)))
    }
}

struct RegoPolicy(regorus::Engine);

impl LoadedPolicy for RegoPolicy {
    fn evaluate(
        &mut self,
        entrypoint: Entrypoint,
        input: Option<&Value>,
    ) -> Result<Vec<Value>, EvalError> {
        check_input(input)?;
        match input {
            Some(input) => self
                .0
                .set_input(to_regorus(input).map_err(EvalError::Engine)?),
            None => self.0.set_input(regorus::Value::Undefined),
        }
        let package = entrypoint.name().replace('/', ".");
        let result = self
            .0
            .eval_rule(format!("data.{package}"))
            .map_err(|e| EvalError::Engine(format!("rego evaluation failed: {e}")))?;
        let mut violations = match result {
            regorus::Value::Undefined => Vec::new(),
            value => match serde_json::to_value(&value) {
                Ok(Value::Array(items)) => items,
                Ok(other) => {
                    return Err(EvalError::Engine(format!(
                        "rego result is not a set: {other}"
                    )));
                }
                Err(e) => return Err(EvalError::Engine(format!("rego result: {e}"))),
            },
        };
        // A Rego set has no order; print it in OPA's canonical order, as `opa eval` does.
        canonicalize(&mut violations);
        Ok(violations)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::*;

    #[test]
    fn a_runaway_evaluation_is_stopped_by_the_timer() {
        let dir = std::env::temp_dir().join(format!("rego-runaway-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // 25 million iterations: tens of seconds without a limit.
        std::fs::write(
            dir.join("register.rego"),
            "package register\n\nviolation contains \"x\" if {\n\tsome i in numbers.range(1, 5000)\n\tsome j in numbers.range(1, 5000)\n\ti * j < 0\n}\n",
        )
        .unwrap();
        let engine = RegoEngine::from_dir(&dir, Duration::from_millis(50));
        std::fs::remove_dir_all(&dir).unwrap();
        let engine = engine.unwrap();
        let mut policy = engine.load(&json!({"server_name": "example.com"})).unwrap();
        let started = Instant::now();
        let result = policy.evaluate(Entrypoint::Register, Some(&json!({})));
        let elapsed = started.elapsed();
        assert!(
            matches!(&result, Err(EvalError::Engine(msg)) if msg.contains("exceeded time limit")),
            "{result:?}"
        );
        assert!(
            elapsed < Duration::from_secs(2),
            "stopped after {elapsed:?}"
        );
    }
}
