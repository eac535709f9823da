//! Constraint objects (`literals`, `substrings`, `regexes`, `prefixes`, `suffixes`; §5.4, §6.2)
//! and gate keys (§5.3), compiled once at data load.

use serde_json::Value;

use crate::{
    data::{DataError, DataPath},
    re2::Re2,
    value::{compare, get, iter},
};

/// A compiled constraint object. A non-object constraint compiles to one that matches nothing.
#[derive(Debug, Clone, Default)]
pub struct Constraint {
    literals: Vec<Value>,
    substrings: Vec<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    regexes: Vec<Re2>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    iter(v)
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

impl Constraint {
    /// Compiles the constraint object found at `path`.
    ///
    /// # Errors
    ///
    /// Every item of `regexes` must be a string that compiles with RE2 meaning (D5).
    pub fn compile(v: Option<&Value>, path: &DataPath) -> Result<Self, DataError> {
        let regexes_path = path.key("regexes");
        let regexes = match get(v, "regexes") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_regex(item, &regexes_path.index(i)))
                .collect::<Result<_, _>>()?,
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, item)| compile_regex(item, &regexes_path.key(k)))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        Ok(Constraint {
            literals: iter(get(v, "literals")).cloned().collect(),
            substrings: strings(get(v, "substrings")),
            prefixes: strings(get(v, "prefixes")),
            suffixes: strings(get(v, "suffixes")),
            regexes,
        })
    }

    /// `matches(s, c)`: absent never matches; apart from literals, only strings match.
    pub fn matches(&self, s: Option<&Value>) -> bool {
        let Some(s) = s else { return false };
        if self
            .literals
            .iter()
            .any(|l| compare(s, l) == std::cmp::Ordering::Equal)
        {
            return true;
        }
        let Some(s) = s.as_str() else { return false };
        self.regexes.iter().any(|re| re.is_match(s))
            || self.substrings.iter().any(|p| s.contains(p.as_str()))
            || self.suffixes.iter().any(|p| s.ends_with(p.as_str()))
            || self.prefixes.iter().any(|p| s.starts_with(p.as_str()))
    }
}

fn compile_regex(item: &Value, path: &DataPath) -> Result<Re2, DataError> {
    let Value::String(pattern) = item else {
        return Err(DataError::regex(path, "not a string"));
    };
    Re2::new(pattern).map_err(|reason| DataError::regex(path, &reason))
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
