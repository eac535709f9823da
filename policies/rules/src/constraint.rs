//! Constraint objects (`literals`, `substrings`, `regexes`, `prefixes`, `suffixes`; §5.4, §6.2)
//! and gate keys (§5.3), compiled once at data load.

use serde_json::Value;

use crate::{
    data::{DataError, DataPath},
    raw_list::{LIST_KEYS, List, ListSlot, RawArray, RawLists},
    re2::Re2,
    value::{get, path},
};

/// `data.requester.banned_user_agents`
pub const BANNED_USER_AGENTS: usize = 0;
/// `data.registration.allowed_usernames`
pub const ALLOWED_USERNAMES: usize = 1;
/// `data.registration.banned_usernames`
pub const BANNED_USERNAMES: usize = 2;
/// `data.emails.allowed_addresses`
pub const ALLOWED_ADDRESSES: usize = 3;
/// `data.emails.banned_addresses`
pub const BANNED_ADDRESSES: usize = 4;

/// Where each constraint object sits in the data document, indexed by the constants above.
pub const CONSTRAINTS: [&[&str]; 5] = [
    &["requester", "banned_user_agents"],
    &["registration", "allowed_usernames"],
    &["registration", "banned_usernames"],
    &["emails", "allowed_addresses"],
    &["emails", "banned_addresses"],
];

/// A compiled constraint object. A non-object constraint compiles to one that matches nothing.
///
/// Only the regexes are compiled; the lists are read in place when a value is matched (from
/// the data document, or from the text the OPA loader kept), so a ban list of 100,000 strings
/// is never copied at load (MAS loads the data into `policy.wasm` on every request).
#[derive(Debug, Clone, Default)]
pub struct Constraint {
    /// Where the constraint object sits in the data document.
    at: &'static [&'static str],
    regexes: Vec<Re2>,
    /// The lists (`LIST_KEYS` order) the loader kept as text.
    raw: [Option<RawArray>; LIST_KEYS.len()],
}

impl Constraint {
    /// Compiles constraint `CONSTRAINTS[which]` of `data`, whose lists kept as text are in `raw`.
    ///
    /// # Errors
    ///
    /// Every item of `regexes` must be a string that compiles with RE2 meaning (D5).
    pub fn compile(data: &Value, raw: &mut RawLists, which: usize) -> Result<Self, DataError> {
        let at = CONSTRAINTS[which];
        let raw = std::array::from_fn(|k| raw.take(ListSlot::constraint_list(which, k)));
        let v = path(Some(data), at);
        let regexes_path = || DataPath::root().keys(at).key("regexes");
        let regexes = match get(v, "regexes") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_regex(item, || regexes_path().index(i)))
                .collect::<Result<_, _>>()?,
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, item)| compile_regex(item, || regexes_path().key(k)))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(Constraint { at, regexes, raw })
    }

    /// `matches(s, c)` for this constraint in `data`, the document it was compiled from:
    /// absent never matches; apart from literals, only strings match.
    pub fn matches(&self, data: &Value, s: Option<&Value>) -> bool {
        let Some(s) = s else { return false };
        let c = path(Some(data), self.at);
        let list = |k: usize| List::new(self.raw[k].as_ref(), get(c, LIST_KEYS[k]));
        let [literals, substrings, prefixes, suffixes] = [0, 1, 2, 3].map(list);
        if literals.contains(s) {
            return true;
        }
        let Some(s) = s.as_str() else { return false };
        self.regexes.iter().any(|re| re.is_match(s))
            || substrings.any_str(|p| s.contains(p))
            || suffixes.any_str(|p| s.ends_with(p))
            || prefixes.any_str(|p| s.starts_with(p))
    }
}

fn compile_regex(item: &Value, path: impl FnOnce() -> DataPath) -> Result<Re2, DataError> {
    let Value::String(pattern) = item else {
        return Err(DataError::regex(&path(), "not a string"));
    };
    Re2::new(pattern).map_err(|reason| DataError::regex(&path(), &reason))
}

/// A gate key: absent or `false` leaves everything allowed; any other value restricts to the
/// values that match it, so `null`, `{}` or `true` deny everything.
#[derive(Debug, Clone)]
pub enum Gate<T> {
    /// The key is absent or `false`.
    Open,
    /// The key is set; only matching values pass.
    Restricted(T),
}

impl<T> Gate<T> {
    /// Builds the gate for the value at a gate key, compiling it when it restricts.
    ///
    /// # Errors
    ///
    /// Propagates the compile error of a restricting value.
    pub fn compile(
        v: Option<&Value>,
        compile: impl FnOnce(&Value) -> Result<T, DataError>,
    ) -> Result<Self, DataError> {
        match v {
            None | Some(Value::Bool(false)) => Ok(Gate::Open),
            Some(v) => compile(v).map(Gate::Restricted),
        }
    }

    /// True when the gate lets the value through: open, or `passes` holds for the restriction.
    pub fn admits(&self, passes: impl FnOnce(&T) -> bool) -> bool {
        match self {
            Gate::Open => true,
            Gate::Restricted(restriction) => passes(restriction),
        }
    }
}
