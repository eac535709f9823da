//! The `rego` engine: our Rego twin (`policies/rego`) evaluated by regorus.
//!
//! The Rego is the only second implementation of the rules; the differential tests keep it
//! equal to the Rust rules. The policies are parsed, analysed and compiled once, for
//! regorus's virtual machine (its RVM), into one program with an entry point per MAS
//! entrypoint. Each load gives the program its data, and each evaluation runs one entry point.
//!
//! Why the VM and not regorus's interpreter: on the bench workload it evaluates the twin
//! several times faster, and it needs no re-analysis of the policies when the data changes
//! (the interpreter's `add_data` takes milliseconds). Both decide every fixture and the
//! differential alike, once the twin avoids the VM's one known miscompilation (a `:=` binding
//! of an undefined value succeeds: see `policies/rego/CONSTRUCTS.md`). The interpreter still
//! runs the twin's own `*_test.rego` tests (`rego_tests`), which use `with`.
//!
//! Data reaches the Rego the way it reaches the other engines: validated first by the Rust
//! data loader (invalid regexes and CIDRs, `server_name`, nesting depth — decision D5 belongs
//! to the loader, the Rego may assume valid data), then given to the VM as `data`, merged as
//! MAS merges it (the caller passes the merged document).
//!
//! Prepared rewrites: regorus keeps nothing between evaluations, and the Rego rewrites each
//! data regex into Rust syntax (`re2.rego`), each domain glob into a regex and the
//! `banned_ips` entries into their IPv6 forms (`common.rego`) whenever a rule uses one. So a load
//! runs the Rego's own `common.prepared_for_input` once, with the data document as the input,
//! and adds its value (every rewrite, keyed by the pattern as written) to the data under
//! [`PREPARED_KEY`]; the Rego takes a rewrite from there when present and computes it
//! otherwise. The rewrite stays written once, in Rego, and the same Rego runs unchanged on
//! OPA, where the key is absent (and ignored). The key replaces any value the deployment's
//! data holds under that name, which no rule reads. The engine keeps the last loaded document:
//! loading an equal document again (MAS's case: the same data for every request) skips the
//! rewrites, and a different document (new dynamic data) reuses the previous table's entries
//! for the patterns it still holds (`common.prepared_reusing`), so only new patterns are
//! rewritten. A rewrite costs milliseconds: it is the Rego translating RE2 syntax token by
//! token.
//!
//! Limits: every run of the VM is bounded by regorus's execution timer
//! ([`DEFAULT_TIME_LIMIT`]), so a pathological evaluation cannot hang the host; computing the
//! prepared table, once per load, gets [`PREPARE_TIME_FACTOR`] times that. The VM's
//! instruction limit (25,000 by default) is lifted: an evaluation over a 100,000-entry ban list
//! runs more instructions than that and is still fast, so the timer is the one bound. There is
//! no memory limit: regorus 0.14 limits memory only through its `allocator-memory-limits`
//! feature, which needs its mimalloc fork installed as the process-wide global allocator and
//! caps the whole process, not one engine. What bounds an evaluation's memory instead: the
//! input and the data are parsed by the host before regorus sees them (their size is the
//! caller's, and their nesting depth is checked by `check_input` and the data loader), and
//! the timer stops any evaluation that keeps building values after a second.

use std::{
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::Context as _;
use policy_rules::{Entrypoint, value::canonicalize};
use regorus::{
    languages::rego::compiler::Compiler,
    rvm::{program::Program, vm::RegoVM},
    utils::limits::ExecutionTimerConfig,
};
use serde::Deserialize as _;
use serde_json::Value;

use super::{Engine, EvalError, LoadedPolicy, check_input, compile_data};

/// Where the Rego twin lives in this repository.
pub fn default_policy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/rego")
}

/// The Rego twin's policies (not its tests), as (file name, text), built into the binary so
/// that `policy-test build` and the `rego` engine need no checkout. A test checks that this
/// list is exactly the policies of [`default_policy_dir`].
pub const TWIN: [(&str, &str); 9] = [
    (
        "authorization_grant.rego",
        include_str!("../../../policies/rego/authorization_grant.rego"),
    ),
    (
        "client_metadata.rego",
        include_str!("../../../policies/rego/client_metadata.rego"),
    ),
    (
        "client_registration.rego",
        include_str!("../../../policies/rego/client_registration.rego"),
    ),
    (
        "common.rego",
        include_str!("../../../policies/rego/common.rego"),
    ),
    (
        "compat_login.rego",
        include_str!("../../../policies/rego/compat_login.rego"),
    ),
    (
        "email.rego",
        include_str!("../../../policies/rego/email.rego"),
    ),
    ("re2.rego", include_str!("../../../policies/rego/re2.rego")),
    (
        "register.rego",
        include_str!("../../../policies/rego/register.rego"),
    ),
    (
        "tenancy.rego",
        include_str!("../../../policies/rego/tenancy.rego"),
    ),
];

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

/// How many steps (VM instructions, or interpreter steps for the Rego tests) regorus takes
/// between two clock reads of the execution timer. A step is microseconds at most, so the
/// limit is overshot by well under a millisecond; reading the clock at every step costs about
/// 15% of a warm evaluation.
const TIMER_CHECK_INTERVAL: NonZeroU32 = NonZeroU32::new(100).expect("nonzero");

/// The data key under which a load stores the prepared rewrites (see the module doc). MAS
/// data has no such key; a deployment that sets one has it replaced.
pub const PREPARED_KEY: &str = "__rego_prepared__";

/// The rule that computes the prepared rewrites of the data document given as input.
const PREPARE_RULE: &str = "data.common.prepared_for_input";

/// How many evaluation time limits computing the prepared table may take: it runs once per
/// load and rewrites every pattern of the document, where an evaluation rewrites none.
pub const PREPARE_TIME_FACTOR: u32 = 10;

/// Evaluates the Rego twin with regorus's VM.
pub struct RegoEngine {
    /// The twin compiled: an entry point per MAS entrypoint the policies define, and
    /// [`PREPARE_RULE`] when they define it (only test directories lack it).
    program: Arc<Program>,
    time_limit: Duration,
    has_prepare_rule: bool,
    /// The last loaded data document and the document the VM gets for it (with the
    /// prepared table). A mutex, not a cell, so that the engine stays `Sync`.
    last: Mutex<Option<(Value, regorus::Value)>>,
}

impl RegoEngine {
    /// Parses the Rego twin built into the binary ([`TWIN`]).
    ///
    /// # Errors
    ///
    /// When a policy does not parse or compile.
    pub fn new() -> anyhow::Result<Self> {
        let sources = TWIN.map(|(name, text)| (name.to_owned(), text.to_owned()));
        Self::from_sources(&sources, "the built-in Rego twin", DEFAULT_TIME_LIMIT)
    }

    /// Parses the policies (not the tests) of `dir`, with `time_limit` per evaluation.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or does not parse, or the policies fail regorus's analysis
    /// or its compilation for the VM.
    pub fn from_dir(dir: &Path, time_limit: Duration) -> anyhow::Result<Self> {
        let mut sources = Vec::new();
        for file in rego_files(dir, false)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            sources.push((file.display().to_string(), text));
        }
        Self::from_sources(&sources, &dir.display().to_string(), time_limit)
    }

    /// Parses policies given as (name, text) and compiles them for the VM; `origin` names
    /// them in errors.
    ///
    /// # Errors
    ///
    /// When a policy does not parse, or the policies fail regorus's analysis or its
    /// compilation for the VM.
    pub fn from_sources(
        sources: &[(String, String)],
        origin: &str,
        time_limit: Duration,
    ) -> anyhow::Result<Self> {
        let mut engine = prepared_engine(time_limit);
        for (name, text) in sources {
            engine
                .add_policy(name.clone(), text.clone())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        let mut candidates: Vec<String> = Entrypoint::ALL.iter().map(|e| rule_path(*e)).collect();
        candidates.push(PREPARE_RULE.to_owned());
        // regorus compiles for a default rule, which must exist but which this engine never
        // evaluates (the program gets its own entry points below); test directories define
        // only some of the rules, so the first one that exists is taken.
        let mut last_error = None;
        let mut compiled = None;
        for candidate in &candidates {
            match engine.compile_with_entrypoint(&Arc::from(candidate.as_str())) {
                Ok(policy) => {
                    compiled = Some(policy);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let compiled = compiled.ok_or_else(|| {
            let why = last_error.map(|e| e.to_string()).unwrap_or_default();
            anyhow::anyhow!("{origin}: none of the MAS entrypoint rules compiles: {why}")
        })?;
        let rules = compiled.get_rules();
        let entry_points: Vec<&str> = candidates
            .iter()
            .map(String::as_str)
            .filter(|path| rules.contains_key(*path))
            .collect();
        let has_prepare_rule = entry_points.contains(&PREPARE_RULE);
        let program = Compiler::compile_from_policy(&compiled, &entry_points)
            .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        Ok(RegoEngine {
            program,
            time_limit,
            has_prepare_rule,
            last: Mutex::new(None),
        })
    }

    /// A VM with the program loaded and `limit` as its time limit, and no instruction limit.
    fn vm(&self, limit: Duration) -> RegoVM {
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_max_instructions(usize::MAX);
        vm.set_execution_timer_config(Some(timer(limit)));
        vm
    }

    /// The document the VM gets for `data`: `data` with the prepared rewrites under
    /// [`PREPARED_KEY`], computed by [`PREPARE_RULE`] with `data` as the input, reusing the
    /// entries of `known` (an earlier load's table). Policies without the rule (test
    /// directories) prepare nothing.
    fn document_for(
        &self,
        data: &Value,
        known: &regorus::Value,
    ) -> Result<regorus::Value, EvalError> {
        let mut document = to_regorus(data).map_err(EvalError::Data)?;
        if !self.has_prepare_rule {
            return Ok(document);
        }
        let mut input = regorus::Value::new_object();
        let members = input
            .as_object_mut()
            .map_err(|e| EvalError::Engine(e.to_string()))?;
        members.insert(regorus::Value::from("data"), document.clone());
        members.insert(regorus::Value::from("known"), known.clone());
        let mut vm = self.vm(self.time_limit * PREPARE_TIME_FACTOR);
        vm.set_input(input);
        let table = match vm.execute_entry_point_by_name(PREPARE_RULE) {
            Ok(table @ regorus::Value::Object(_)) => table,
            Ok(other) => {
                return Err(EvalError::Engine(format!(
                    "rego prepared rewrites are not an object: {other}"
                )));
            }
            Err(e) => {
                return Err(EvalError::Engine(format!(
                    "rego prepared rewrites failed: {e}"
                )));
            }
        };
        document
            .as_object_mut()
            .map_err(|e| EvalError::Data(e.to_string()))?
            .insert(regorus::Value::from(PREPARED_KEY), table);
        Ok(document)
    }
}

/// The rule an entrypoint evaluates: `register/violation` is `data.register.violation`.
fn rule_path(entrypoint: Entrypoint) -> String {
    format!("data.{}", entrypoint.name().replace('/', "."))
}

/// The execution timer for `limit`, with the clock read every [`TIMER_CHECK_INTERVAL`] steps.
fn timer(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: TIMER_CHECK_INTERVAL,
    }
}

/// A regorus engine in Rego v1 mode with the execution timer set, without policies: the
/// `rego` engine parses and compiles the twin in one, and the Rego test runner loads the twin
/// and its tests into one and runs them on the interpreter.
pub fn prepared_engine(time_limit: Duration) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(false);
    engine.set_execution_timer_config(timer(time_limit));
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
        // A panic while the lock was held left either the old pair or the new one: both whole.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let document = match &*last {
            Some((last_data, document)) if last_data == data => document.clone(),
            _ => {
                let known = match &*last {
                    Some((_, document)) => document[PREPARED_KEY].clone(),
                    None => regorus::Value::new_object(),
                };
                let document = self.document_for(data, &known)?;
                *last = Some((data.clone(), document.clone()));
                document
            }
        };
        drop(last);
        let mut vm = self.vm(self.time_limit);
        vm.set_data(document)
            .map_err(|e| EvalError::Data(format!("rego data: {e}")))?;
        Ok(Box::new(RegoPolicy(vm)))
    }
}

/// A VM with the program and the loaded document; each evaluation runs one entry point.
struct RegoPolicy(RegoVM);

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
        let result = self
            .0
            .execute_entry_point_by_name(&rule_path(entrypoint))
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
    fn the_built_in_twin_is_the_checkouts_policies() {
        let on_disk: Vec<(String, String)> = rego_files(&default_policy_dir(), false)
            .unwrap()
            .into_iter()
            .map(|f| {
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&f).unwrap())
            })
            .collect();
        let built_in: Vec<(String, String)> = TWIN
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(built_in, on_disk, "add or remove the file in TWIN");
    }

    /// The 1-based numbers of the lines of `text` that bind with `:=` outside a rule head (a
    /// head's `:=` comes before any `if`, `{`, `|` or `;` on an unindented line).
    fn colon_equals_outside_heads(text: &str) -> Vec<usize> {
        let mut found = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let outside_head = line.match_indices(" := ").any(|(at, _)| {
                let before = &line[..at];
                line.starts_with(char::is_whitespace)
                    || before.contains(" if ")
                    || before.contains(['{', '|', ';'])
            });
            if outside_head {
                found.push(number + 1);
            }
        }
        found
    }

    /// CONSTRUCTS.md item 24: regorus's VM lets `x := f(y)` succeed when `f(y)` is
    /// undefined, so the twin binds with `=` in bodies and comprehensions.
    #[test]
    fn the_twin_binds_by_unification_outside_rule_heads() {
        let sample = "x := 1 if {\n\ty := f(z)\n}\n\
                      ys := [y | some x in xs; y := f(x)]\n\
                      p if q := r\n\
                      # a comment: x := y\n\
                      f(x) := {\"a\": 1} if x = 2\n";
        assert_eq!(colon_equals_outside_heads(sample), vec![2, 4, 5]);
        let found: Vec<String> = TWIN
            .iter()
            .flat_map(|(name, text)| {
                colon_equals_outside_heads(text)
                    .into_iter()
                    .map(move |line| format!("{name}:{line}"))
            })
            .collect();
        assert!(found.is_empty(), "bind with `=` at {found:?}");
    }

    #[test]
    fn a_load_stores_the_rewrites_of_the_data_patterns() {
        let engine = RegoEngine::new().unwrap();
        let data = json!({
            "server_name": "example.com",
            "registration": {"banned_usernames": {"regexes": ["(?i)^staff", "^mod[0-9]+$"]}},
            "banned_domains": ["*.spam.example", "[x"],
            "requester": {"banned_ips": ["10.0.0.0/8", "2001:db8::1"]},
            PREPARED_KEY: {"re2": {"(?i)^staff": "^nobody$"}},
        });
        let table = engine
            .document_for(&data, &regorus::Value::new_object())
            .unwrap()[PREPARED_KEY]
            .clone();
        assert_eq!(
            serde_json::to_value(&table).unwrap(),
            json!({
                "re2": {"(?i)^staff": "^[Ss][Tt][Aa][Ff][Ff]", "^mod[0-9]+$": "^mod[0-9]+$"},
                "globs": {"*.spam.example": r"^(?:[^.]*\.spam\.example)$", "[x": false},
                "banned_ips": [["::ffff:10.0.0.0/104", true], ["2001:db8::1/128", false]],
            })
        );
        // The deployment's value under the key is replaced, so it decides nothing.
        let mut policy = engine.load(&data).unwrap();
        let input = json!({"registration_method": "password", "username": "Staffer"});
        let violations = policy.evaluate(Entrypoint::Register, Some(&input)).unwrap();
        assert!(
            violations.iter().any(|v| v["code"] == "username-banned"),
            "{violations:?}"
        );
    }

    #[test]
    fn loading_the_same_data_again_reuses_the_loaded_engine() {
        let engine = RegoEngine::new().unwrap();
        let data = json!({"server_name": "example.com", "banned_domains": ["*.spam.example"]});
        let input = json!({"email": "x@a.spam.example"});
        let first = engine
            .load(&data)
            .unwrap()
            .evaluate(Entrypoint::Email, Some(&input))
            .unwrap();
        assert!(
            engine
                .last
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|(d, _)| *d == data)
        );
        let again = engine
            .load(&data)
            .unwrap()
            .evaluate(Entrypoint::Email, Some(&input))
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(first.len(), 1, "{first:?}");
        let other = json!({"server_name": "example.com"});
        let none = engine
            .load(&other)
            .unwrap()
            .evaluate(Entrypoint::Email, Some(&input))
            .unwrap();
        assert_eq!(none, Vec::<Value>::new());
        assert!(
            engine
                .last
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|(d, _)| *d == other)
        );
    }

    /// A load after another reuses the earlier table's rewrites, and its table is the one a
    /// first load of the same data computes.
    #[test]
    fn a_new_document_gets_the_table_a_first_load_would() {
        let engine = RegoEngine::new().unwrap();
        let first = json!({"server_name": "example.com",
            "registration": {"banned_usernames": {"regexes": ["(?i)^staff", "^a"]}}});
        let second = json!({"server_name": "example.com",
            "registration": {"banned_usernames": {"regexes": ["(?i)^staff", "^b\\d"]}},
            "banned_domains": ["*.spam.example"]});
        engine.load(&first).unwrap();
        engine.load(&second).unwrap();
        let reused = engine.last.lock().unwrap().as_ref().unwrap().1[PREPARED_KEY].clone();
        let fresh = RegoEngine::new()
            .unwrap()
            .document_for(&second, &regorus::Value::new_object())
            .unwrap()[PREPARED_KEY]
            .clone();
        assert_eq!(reused, fresh);
        assert_eq!(
            serde_json::to_value(&reused).unwrap()["re2"],
            json!({"(?i)^staff": "^[Ss][Tt][Aa][Ff][Ff]", "^b\\d": "^b[0-9]"})
        );
    }

    /// An engine over one policy file, `register.rego`, and none of the twin's.
    fn only_register(text: &str, time_limit: Duration) -> RegoEngine {
        let sources = [("register.rego".to_owned(), text.to_owned())];
        RegoEngine::from_sources(&sources, "a test policy", time_limit).unwrap()
    }

    /// A MAS entrypoint the policies do not define is an error (a deny), not "no violations".
    #[test]
    fn an_entrypoint_the_policies_lack_fails_closed() {
        let engine = only_register(
            "package register\n\nviolation contains \"x\" if input.username == \"x\"\n",
            DEFAULT_TIME_LIMIT,
        );
        let mut policy = engine.load(&json!({"server_name": "example.com"})).unwrap();
        let input = json!({"username": "x"});
        assert_eq!(
            policy.evaluate(Entrypoint::Register, Some(&input)).unwrap(),
            vec![json!("x")]
        );
        let missing = policy.evaluate(Entrypoint::Email, Some(&input));
        assert!(
            matches!(&missing, Err(EvalError::Engine(msg)) if msg.contains("rego evaluation failed")),
            "{missing:?}"
        );
    }

    #[test]
    fn a_runaway_evaluation_is_stopped_by_the_timer() {
        // 25 million iterations: tens of seconds without a limit.
        let engine = only_register(
            "package register\n\nviolation contains \"x\" if {\n\tsome i in numbers.range(1, 5000)\n\tsome j in numbers.range(1, 5000)\n\ti * j < 0\n}\n",
            Duration::from_millis(50),
        );
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

    #[test]
    fn the_engine_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<RegoEngine>();
    }
}
