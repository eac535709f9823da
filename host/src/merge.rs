//! Policy data assembly exactly as MAS does it (contract §5.1).
//!
//! `data = merge(merge(base, policy.data), dynamic data)`: objects merge key by key, arrays
//! concatenate, scalars and `null` take the right side, and any other pair is MAS's
//! "Cannot merge" error. Fixtures and `policy-test eval` go through the same function, so a
//! fixture's data means what it would mean in a MAS config.

use std::fmt;

use serde_json::{Map, Value, json};

/// MAS's error for a type mismatch while merging policy data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    right: &'static str,
    left: &'static str,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cannot merge a {} into a {}", self.right, self.left)
    }
}

impl std::error::Error for MergeError {}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Merges `right` into `left`.
///
/// # Errors
///
/// Returns MAS's `Cannot merge a … into a …` error for mismatched kinds.
pub fn merge(left: Value, right: Value) -> Result<Value, MergeError> {
    match (left, right) {
        (Value::Object(mut l), Value::Object(r)) => {
            for (key, rv) in r {
                let merged = match l.remove(&key) {
                    Some(lv) => merge(lv, rv)?,
                    None => rv,
                };
                l.insert(key, merged);
            }
            Ok(Value::Object(l))
        }
        (Value::Array(mut l), Value::Array(r)) => {
            l.extend(r);
            Ok(Value::Array(l))
        }
        (Value::Null, r)
        | (_, r @ Value::Null)
        | (Value::Number(_), r @ Value::Number(_))
        | (Value::Bool(_), r @ Value::Bool(_))
        | (Value::String(_), r @ Value::String(_)) => Ok(r),
        (l, r) => Err(MergeError {
            right: kind(&r),
            left: kind(&l),
        }),
    }
}

/// The data MAS builds before merging `policy.data`: the server name and no session limit.
pub fn base(server_name: &str) -> Value {
    json!({ "server_name": server_name, "session_limit": null })
}

/// An empty object, the default `policy.data`.
pub fn empty() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_mas_table() {
        let merged = merge(
            json!({"a": [1], "b": {"c": 1}, "n": null, "s": "x"}),
            json!({"a": [2], "b": {"d": 2}, "n": 5, "s": null}),
        )
        .unwrap();
        assert_eq!(
            merged,
            json!({"a": [1, 2], "b": {"c": 1, "d": 2}, "n": 5, "s": null})
        );
        let err = merge(json!({"a": [1]}), json!({"a": {}})).unwrap_err();
        assert_eq!(err.to_string(), "Cannot merge a object into a array");
        assert!(merge(json!(1), json!("x")).is_err());
    }
}
