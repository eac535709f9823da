//! The checks behind the coverage-guided fuzz targets (`tests/fuzz`), and their case format.
//!
//! libFuzzer mutates bytes and keeps what reaches new code; these functions say what must hold
//! for any bytes. A fuzz target only calls one of them and panics with its report. The
//! integration test `tests/all/fuzz_regressions.rs` runs the same functions over the fixture
//! suites (as seeds) and over every saved finding, so the checks themselves run in `cargo test`
//! on the stable toolchain, and a finding stays fixed.
//!
//! # The case format
//!
//! `[selector][data JSON] 0xFF [input JSON]`: the selector byte picks the entrypoint (modulo 5,
//! in [`Entrypoint::ALL`] order), then the data document's text, then the input's text after the
//! first `0xFF`. No `0xFF` means no input document. `0xFF` never occurs in UTF-8, so the split
//! never cuts a valid text, and a mutation that removes it tests the missing-input path.
//! [`encode`] writes fixture cases in this format as seeds (`policy-test export --fuzz-seeds`).
//!
//! # The checks
//! - [`check_json`]: `policy.wasm`'s fast JSON parser (`policy_rules::json_parse`) takes a text
//!   only if `serde_json` (the contract's parser) takes it, and builds the same value; and read
//!   as each entrypoint's input (`json_parse::parse_input`), it gives `serde_json`'s verdict and
//!   message, and on success the whole value cut to the entrypoint's input shape.
//! - [`check_loader`]: `policy.wasm`'s data loader (text kept as raw lists, unread keys only
//!   validated) refuses the same documents as compiling the whole parsed document, with the same
//!   message, and the two make the same decision on every entrypoint. This is the module's own
//!   load path, compiled natively so that coverage guides the fuzzer through it.
//! - [`EngineCheck`]: the native rules, `policy.wasm` (warm, through opa-wasm) and the policy
//!   component (host runner) load the data and decide the input the same way on every entrypoint.
//!   The data is merged over MAS's base data (`server_name`, `session_limit`) first, as MAS does.
//! - [`ClaimsCheck`]: the claims mapper, native and as its component, loads a `claims_imports`
//!   block with policy data and maps a claims document the same way (the same load error, or
//!   the same unknown keys and the same mapping or error). Claims come from the upstream
//!   provider, and the templates run minijinja with MAS's filters on them.
//!
//! A claims case is `[claims_imports JSON] 0xFF [data JSON] 0xFF [claims JSON]`
//! ([`encode_claims`]).
//!
//! The Rego twin is left out: regorus takes milliseconds to load a document, so its generated
//! cross-check stays the proptest differential.

use policy_rules::{
    Entrypoint, PolicyData,
    input_shape::Shape,
    json_parse,
    raw_list::RawLists,
    value::{JsonError, parse_limited},
};
use serde_json::Value;

use crate::{
    claims::{MapperEngine, NativeMapper, component, fixtures as claims_fixtures},
    engine::{
        Engine, EvalError, LoadedPolicy, compare_loaded, component::ComponentEngine,
        native::NativeEngine, opa::OpaEngine,
    },
    fixtures::{FIXTURE_SERVER_NAME, as_fixture},
    limits::Limits,
    merge,
};

/// The byte between the data and the input of a case.
pub const SEPARATOR: u8 = 0xFF;

/// A fuzz case: an entrypoint, a data text, and an input text when there is one.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// The entrypoint the selector byte picks.
    pub entrypoint: Entrypoint,
    /// The data document's text (not necessarily valid JSON).
    pub data: &'a [u8],
    /// The input document's text, if the case has one.
    pub input: Option<&'a [u8]>,
}

impl<'a> Case<'a> {
    /// Splits fuzz bytes into a case; `None` for empty bytes.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let (&selector, rest) = bytes.split_first()?;
        let entrypoint = Entrypoint::ALL[usize::from(selector) % Entrypoint::ALL.len()];
        let (data, input) = match rest.iter().position(|&b| b == SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        Some(Case {
            entrypoint,
            data,
            input,
        })
    }
}

/// Writes a case in the fuzz format (the inverse of [`Case::parse`]).
pub fn encode(entrypoint: Entrypoint, data: &Value, input: Option<&Value>) -> Vec<u8> {
    let selector = Entrypoint::ALL
        .iter()
        .position(|e| *e == entrypoint)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or_default();
    let mut bytes = vec![selector];
    bytes.extend_from_slice(data.to_string().as_bytes());
    if let Some(input) = input {
        bytes.push(SEPARATOR);
        bytes.extend_from_slice(input.to_string().as_bytes());
    }
    bytes
}

/// The fast JSON parser against `serde_json` on any text: when the fast parser takes the text,
/// `serde_json` (depth-limited, as the contract) must take it too and build the same value.
///
/// # Errors
///
/// The disagreement, with the text.
pub fn check_json(bytes: &[u8]) -> Result<(), String> {
    check_json_with(bytes, json_parse::parse)?;
    check_input_with(bytes, json_parse::parse_input)
}

/// The input parser of [`check_json`] (a test gives it a wrong one): for every entrypoint the
/// same verdict as `serde_json`, and the whole value cut to the entrypoint's shape, or the
/// whole value where `serde_json` decided.
fn check_input_with(
    bytes: &[u8],
    parse: fn(&[u8], &Shape) -> Result<Value, JsonError>,
) -> Result<(), String> {
    let contract = parse_limited(bytes, "input");
    for entrypoint in Entrypoint::ALL {
        let shape = entrypoint.input_shape();
        let agrees = match (parse(bytes, shape), &contract) {
            (Ok(ours), Ok(whole)) => ours == shape.prune(whole) || ours == *whole,
            (Err(ours), Err(theirs)) => ours == *theirs,
            _ => false,
        };
        if !agrees {
            return Err(format!(
                "{entrypoint}: the input parser disagrees with serde_json ({}) on {}",
                contract
                    .as_ref()
                    .map_or_else(json_error, ToString::to_string),
                shown(bytes)
            ));
        }
    }
    Ok(())
}

/// [`check_json`] with another fast parser (a test gives it a wrong one).
fn check_json_with(bytes: &[u8], fast: fn(&str) -> Option<Value>) -> Result<(), String> {
    let Some(fast) = std::str::from_utf8(bytes).ok().and_then(fast) else {
        return Ok(());
    };
    match parse_limited(bytes, "input") {
        Ok(contract) if contract == fast => Ok(()),
        Ok(contract) => Err(format!(
            "the fast parser built {fast} where serde_json built {contract} from {}",
            shown(bytes)
        )),
        Err(e) => Err(format!(
            "the fast parser took a text serde_json refuses ({}): {}",
            json_error(&e),
            shown(bytes)
        )),
    }
}

/// `policy.wasm`'s data loader against compiling the whole document, on any case: same refusal
/// and message, and the same decision on every entrypoint for the case's input.
///
/// # Errors
///
/// The disagreement, with the case.
pub fn check_loader(bytes: &[u8]) -> Result<(), String> {
    check_loader_with(bytes, json_parse::load_data)
}

/// The data loader's signature.
type Loader = fn(&'static [u8]) -> Option<(Value, RawLists)>;

/// [`check_loader`] with another loader (a test gives it a wrong one).
fn check_loader_with(bytes: &[u8], load_data: Loader) -> Result<(), String> {
    let Some(case) = Case::parse(bytes) else {
        return Ok(());
    };
    let input = match case.input.map(|i| parse_limited(i, "input")) {
        None => None,
        Some(Ok(input)) => Some(input),
        // Every engine refuses an input that does not parse before any rule runs.
        Some(Err(_)) => return Ok(()),
    };
    // The loader reads the bytes as they are, UTF-8 or not, as `policy.wasm` does.
    with_static_bytes(case.data, |text| {
        let Some((value, lists)) = load_data(text) else {
            // The module hands the document to the contract's parser: nothing of its own to test.
            return Ok(());
        };
        let whole = match parse_limited(case.data, "document") {
            Ok(whole) => whole,
            Err(e) => {
                return Err(format!(
                    "the data loader took a document serde_json refuses ({}): {}",
                    json_error(&e),
                    shown(bytes)
                ));
            }
        };
        let loaded = PolicyData::compile_parts(value, lists);
        let compiled = PolicyData::compile_owned(whole);
        match (loaded, compiled) {
            (Err(a), Err(b)) if a.to_string() == b.to_string() => Ok(()),
            (Ok(loaded), Ok(compiled)) => Entrypoint::ALL.iter().try_for_each(|&entrypoint| {
                let a = loaded.evaluate(entrypoint, input.as_ref());
                let b = compiled.evaluate(entrypoint, input.as_ref());
                if a == b {
                    Ok(())
                } else {
                    Err(format!(
                        "{entrypoint}: the data loader decided {} where the whole document \
                         decides {}: {}",
                        Value::Array(a),
                        Value::Array(b),
                        shown(bytes)
                    ))
                }
            }),
            (a, b) => Err(format!(
                "the data loader gave {} where the whole document gives {}: {}",
                a.map_or_else(|e| e.to_string(), |_| "data".to_owned()),
                b.map_or_else(|e| e.to_string(), |_| "data".to_owned()),
                shown(bytes)
            )),
        }
    })
}

/// Lends `text` to `f` as `'static`, which [`json_parse::load_data`] needs: in `policy.wasm`
/// the data text lives as long as the instance, so the loader keeps `&'static str` slices of it
/// as raw lists. Here the text lives only for one check; leaking it instead would grow the
/// fuzzer's memory by every case it runs.
#[expect(
    unsafe_code,
    reason = "a lifetime extension whose borrow provably ends before the text is dropped"
)]
fn with_static_bytes(
    text: &[u8],
    f: impl FnOnce(&'static [u8]) -> Result<(), String>,
) -> Result<(), String> {
    // SAFETY: `f` returns only an owned `String`, and the rules keep no global state (no
    // statics, no thread-locals), so every reference into `text` that `f` makes (the loaded
    // `PolicyData`, its raw lists) is dropped before `f` returns, while `text` is still borrowed
    // by this function.
    let text: &'static [u8] = unsafe { &*std::ptr::from_ref::<[u8]>(text) };
    f(text)
}

/// The native rules, `policy.wasm` and the policy component, compiled once for many checks.
pub struct EngineCheck {
    engines: Vec<Box<dyn Engine>>,
}

impl EngineCheck {
    /// Compiles `policy.wasm` and the component (with the runner's default limits).
    ///
    /// # Errors
    ///
    /// When an engine cannot be created.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self::from_engines(vec![
            Box::new(NativeEngine),
            Box::new(OpaEngine::new(crate::engine::opa::Mode::Warm)?),
            Box::new(ComponentEngine::new(Limits::default())?),
        ]))
    }

    /// Checks `engines` against the first of them.
    pub fn from_engines(engines: Vec<Box<dyn Engine>>) -> Self {
        EngineCheck { engines }
    }

    /// Loads the case's data (merged over MAS's base data) on every engine and evaluates its
    /// input on every entrypoint; every engine must make native's decision.
    ///
    /// # Errors
    ///
    /// The first disagreement, as a fixture to paste under `tests/cases`.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        let Some(case) = Case::parse(bytes) else {
            return Ok(());
        };
        // serde_json's own nesting limit (128) is above the rules' (64): documents between the
        // two reach the engines, which must all refuse them the same way.
        let Ok(policy_data) = serde_json::from_slice::<Value>(case.data) else {
            return Ok(());
        };
        let input = match case.input.map(serde_json::from_slice::<Value>) {
            None => None,
            Some(Ok(input)) => Some(input),
            Some(Err(_)) => return Ok(()),
        };
        // MAS merges `policy.data` over its own base data; a document that does not merge
        // never reaches a policy.
        let Ok(data) = merge::merge(merge::base(FIXTURE_SERVER_NAME), policy_data.clone()) else {
            return Ok(());
        };
        let mut loaded: Vec<Result<Box<dyn LoadedPolicy + '_>, EvalError>> =
            self.engines.iter().map(|e| e.load(&data)).collect();
        for entrypoint in Entrypoint::ALL {
            let compared = compare_loaded(&self.engines, &mut loaded, entrypoint, input.as_ref());
            if !compared.disagreeing.is_empty() {
                return Err(format!(
                    "engines disagree; as a fixture:\n{}",
                    as_fixture(
                        entrypoint,
                        &policy_data,
                        input.as_ref(),
                        &compared.first,
                        &compared.disagreeing
                    )
                ));
            }
        }
        Ok(())
    }
}

/// Writes a claims case in the fuzz format (the inverse of [`ClaimsCheck::check`]'s split).
pub fn encode_claims(imports: &Value, data: &Value, claims: &Value) -> Vec<u8> {
    let mut bytes = imports.to_string().into_bytes();
    for part in [data, claims] {
        bytes.push(SEPARATOR);
        bytes.extend_from_slice(part.to_string().as_bytes());
    }
    bytes
}

/// The claims mapper, native and as its component, compiled once for many checks.
pub struct ClaimsCheck {
    engines: Vec<Box<dyn MapperEngine>>,
}

impl ClaimsCheck {
    /// Compiles the claims component (with its default limits).
    ///
    /// # Errors
    ///
    /// When the component cannot be compiled.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self::from_engines(vec![
            Box::new(NativeMapper),
            Box::new(component::ComponentMapper::new(component::default_limits())?),
        ]))
    }

    /// Checks `engines` against each other.
    pub fn from_engines(engines: Vec<Box<dyn MapperEngine>>) -> Self {
        ClaimsCheck { engines }
    }

    /// Maps the case on every engine (the data merged over MAS's base data, as the claims
    /// fixtures do); every engine must make the same of it.
    ///
    /// # Errors
    ///
    /// The first disagreement.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        let mut parts = bytes.splitn(3, |&b| b == SEPARATOR);
        let (Some(imports), Some(data), Some(claims)) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(());
        };
        let parse = |text: &[u8]| serde_json::from_slice::<Value>(text).ok();
        let (Some(imports), Some(policy_data), Some(claims)) =
            (parse(imports), parse(data), parse(claims))
        else {
            return Ok(());
        };
        let Ok(data) = merge::merge(merge::base(FIXTURE_SERVER_NAME), policy_data) else {
            return Ok(());
        };
        claims_fixtures::engines_agree(&self.engines, &imports, &data, &claims)
            .map_err(|e| format!("{e}\nimports: {imports}\ndata: {data}\nclaims: {claims}"))
    }
}

fn json_error(e: &JsonError) -> String {
    match e {
        JsonError::Malformed(msg) | JsonError::TooDeep(msg) => msg.clone(),
    }
}

/// Bytes as a Rust-style escaped string, short enough for a report.
fn shown(bytes: &[u8]) -> String {
    const LIMIT: usize = 2000;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]);
    let more = if bytes.len() > LIMIT { " …" } else { "" };
    format!("{text:?}{more}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn encode_and_parse_are_inverse() {
        let data = json!({"a": "ÿ"});
        let input = json!({"username": "x"});
        for entrypoint in Entrypoint::ALL {
            for input in [None, Some(&input)] {
                let bytes = encode(entrypoint, &data, input);
                let case = Case::parse(&bytes).unwrap();
                assert_eq!(case.entrypoint, entrypoint);
                assert_eq!(serde_json::from_slice::<Value>(case.data).unwrap(), data);
                assert_eq!(
                    case.input
                        .map(|i| serde_json::from_slice::<Value>(i).unwrap()),
                    input.cloned()
                );
            }
        }
    }

    fn banned_bob() -> Vec<u8> {
        encode(
            Entrypoint::Register,
            &json!({"registration": {"banned_usernames": {"literals": ["bob"]}}}),
            Some(&json!({"registration_method": "password", "username": "bob"})),
        )
    }

    #[test]
    fn the_json_check_catches_a_parser_that_builds_another_value() {
        let text = br#"{"a": [1, "x"]}"#;
        assert_eq!(check_json(text), Ok(()));
        let wrong = check_json_with(text, |t| json_parse::parse(t).map(|_| json!({"a": []})));
        assert!(wrong.is_err_and(|e| e.contains("the fast parser built")));
        let lax = check_json_with(b"{", |_| Some(json!({})));
        assert!(lax.is_err_and(|e| e.contains("serde_json refuses")));
    }

    #[test]
    fn the_json_check_catches_an_input_parser_that_drops_a_read_member() {
        let text = br#"{"username": "bob", "user": {"username": "bob", "sub": "x"}}"#;
        assert_eq!(check_json(text), Ok(()));
        let forgetful = check_input_with(text, |t, _| {
            json_parse::parse_input(t, &Shape::Members(&[("user", Shape::Whole)]))
        });
        assert!(forgetful.is_err_and(|e| e.starts_with("register/violation: the input parser")));
        let lax = check_input_with(b"{\"a\":", |_, _| Ok(json!({})));
        assert!(lax.is_err_and(|e| e.contains("is not valid JSON")));
    }

    #[test]
    fn the_loader_check_catches_a_loader_that_loses_a_list() {
        let case = banned_bob();
        assert_eq!(check_loader(&case), Ok(()));
        // The ban list is kept as text: a loader that loses its raw lists loses the ban.
        let wrong = check_loader_with(&case, |text| {
            json_parse::load_data(text).map(|(value, _)| (value, RawLists::default()))
        });
        let report = wrong.unwrap_err();
        assert!(
            report.contains("register/violation: the data loader decided []"),
            "{report}"
        );
    }

    /// An engine that decides as native, without the last violation.
    struct Forgetful(NativeEngine);

    struct ForgetfulPolicy<'a>(Box<dyn LoadedPolicy + 'a>);

    impl Engine for Forgetful {
        fn name(&self) -> &'static str {
            "forgetful"
        }

        fn load(&self, data: &Value) -> Result<Box<dyn LoadedPolicy + '_>, EvalError> {
            Ok(Box::new(ForgetfulPolicy(self.0.load(data)?)))
        }
    }

    impl LoadedPolicy for ForgetfulPolicy<'_> {
        fn evaluate(
            &mut self,
            entrypoint: Entrypoint,
            input: Option<&Value>,
        ) -> Result<Vec<Value>, EvalError> {
            let mut violations = self.0.evaluate(entrypoint, input)?;
            violations.pop();
            Ok(violations)
        }
    }

    #[test]
    fn the_engine_check_catches_an_engine_that_decides_otherwise() {
        let case = banned_bob();
        let check = EngineCheck::from_engines(vec![Box::new(NativeEngine), Box::new(NativeEngine)]);
        assert_eq!(check.check(&case), Ok(()));
        let check = EngineCheck::from_engines(vec![
            Box::new(NativeEngine),
            Box::new(Forgetful(NativeEngine)),
        ]);
        let report = check.check(&case).unwrap_err();
        assert!(
            report.contains("entrypoint: register/violation"),
            "{report}"
        );
        assert!(report.contains("# forgetful gave: []"), "{report}");
    }

    /// A claims engine that refuses every block.
    struct Refusing;

    impl MapperEngine for Refusing {
        fn name(&self) -> &'static str {
            "refusing"
        }

        fn load(
            &self,
            _: &Value,
            _: &Value,
        ) -> Result<Box<dyn crate::claims::LoadedMapper + '_>, String> {
            Err("refused".to_owned())
        }
    }

    #[test]
    fn the_claims_check_splits_what_encode_claims_writes() {
        let imports = json!({"localpart": {"action": "force"}});
        let claims = json!({"id_token_claims": {"sub": "1", "preferred_username": "bob"}});
        let bytes = encode_claims(&imports, &json!({}), &claims);
        let check = ClaimsCheck::from_engines(vec![Box::new(NativeMapper), Box::new(NativeMapper)]);
        assert_eq!(check.check(&bytes), Ok(()));
        // A mapper that refuses every block disagrees with one that loads it.
        let check = ClaimsCheck::from_engines(vec![Box::new(NativeMapper), Box::new(Refusing)]);
        let report = check.check(&bytes).unwrap_err();
        assert!(
            report.contains("engines disagree") && report.contains("refusing"),
            "{report}"
        );
    }
}
