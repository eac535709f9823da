//! Violation objects and the evaluation result document (contract §4).

use serde_json::{Map, Value};

use crate::value::canonicalize;

/// A violation under construction: always a `msg`, optionally a `code`, `field` and more.
#[derive(Debug, Clone)]
pub struct Violation(Map<String, Value>);

impl Violation {
    /// A violation with only a message.
    pub fn msg(msg: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert("msg".to_owned(), Value::String(msg.into()));
        Violation(map)
    }

    /// A violation with a MAS code and a message.
    pub fn coded(code: &str, msg: impl Into<String>) -> Self {
        Violation::msg(msg).with("code", code)
    }

    /// Adds a member.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The finished JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The violations of one evaluation, collected in any order.
#[derive(Debug, Default)]
pub struct Violations(Vec<Value>);

impl Violations {
    /// Adds one violation.
    pub fn push(&mut self, v: Violation) {
        self.0.push(v.into_value());
    }

    /// Adds one violation when `cond` holds.
    pub fn push_if(&mut self, cond: bool, v: impl FnOnce() -> Violation) {
        if cond {
            self.push(v());
        }
    }

    /// The set, sorted in OPA's canonical order without duplicates (D4).
    pub fn finish(mut self) -> Vec<Value> {
        canonicalize(&mut self.0);
        self.0
    }
}

/// Writes `[{"result":[…]}]`, the document every OPA evaluation returns (§4.1).
pub fn result_document(violations: &[Value]) -> String {
    let mut out = String::with_capacity(32 + violations.len() * 64);
    out.push_str(r#"[{"result":"#);
    // Writing to a `String` cannot fail.
    let _ = crate::json_text::write_array(&mut out, violations);
    out.push_str("}]");
    out
}
