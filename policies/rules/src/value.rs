//! Rego value semantics over `serde_json::Value`.
//!
//! The rules are written against the contract's vocabulary (§3): *absent*, *present*, *truthy*,
//! `iter`, `count`, `eq` and OPA's total order. Modelling them here, once, keeps every rule a
//! direct transcription of its table row, and keeps `null` (truthy in Rego) from being confused
//! with "absent" (falsy).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// The deepest nesting of arrays and objects any engine accepts in a document.
///
/// `policy.wasm` runs on a 32 KiB stack (it must fit in two memory pages), and parsing,
/// comparing and printing JSON recurse once per level. MAS's documents are a few levels deep;
/// anything deeper than this is refused by every engine alike, instead of trapping in one.
pub const MAX_DEPTH: usize = 64;

/// The error every engine reports for a document deeper than [`MAX_DEPTH`].
pub fn too_deep_message(what: &str) -> String {
    format!("{what} is nested deeper than {MAX_DEPTH} levels")
}

/// Why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Deeper than [`MAX_DEPTH`]; the message is [`too_deep_message`].
    TooDeep(String),
    /// Not valid JSON.
    Malformed(String),
}

/// Parses a JSON document (`what` names it in errors), refusing it as soon as it nests deeper
/// than [`MAX_DEPTH`] levels, so that no engine recurses deeper than that on hostile input.
///
/// The depth is counted while parsing, in one pass over the text: a separate scan before
/// parsing costs as much again, which `policy.wasm` pays for the whole data document on every
/// request.
///
/// # Errors
///
/// [`JsonError::TooDeep`] or [`JsonError::Malformed`], with a one-line message.
pub fn parse_limited(text: &[u8], what: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = serde::de::DeserializeSeed::deserialize(Limited(MAX_DEPTH), &mut de)
        .and_then(|value| de.end().map(|()| value));
    parsed.map_err(|e| {
        if e.is_data() && e.to_string().starts_with(TOO_DEEP) {
            JsonError::TooDeep(too_deep_message(what))
        } else {
            JsonError::Malformed(format!("{what} is not valid JSON: {e}"))
        }
    })
}

/// The marker of the depth error inside `serde_json`'s error.
const TOO_DEEP: &str = "nested too deeply";

/// Deserialises a `Value` that may still open this many levels of arrays and objects.
struct Limited(usize);

impl Limited {
    fn deeper<E: serde::de::Error>(&self) -> Result<Limited, E> {
        match self.0.checked_sub(1) {
            Some(left) => Ok(Limited(left)),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Limited {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// The same values `serde_json::Value`'s own visitor builds.
impl<'de> serde::de::Visitor<'de> for Limited {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.deeper()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Limited(child.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.deeper()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Limited(child.0))?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// Whether a parsed value nests at most [`MAX_DEPTH`] levels.
pub fn depth_within_limit(v: &Value) -> bool {
    fn depth(v: &Value, level: usize) -> bool {
        match v {
            _ if level > MAX_DEPTH => false,
            Value::Array(items) => items.iter().all(|i| depth(i, level + 1)),
            Value::Object(map) => map.values().all(|i| depth(i, level + 1)),
            _ => true,
        }
    }
    depth(v, 0)
}

/// Looks `key` up in `v`; anything that is not an object has no members (absent).
pub fn get<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    match v {
        Some(Value::Object(map)) => map.get(key),
        _ => None,
    }
}

/// Follows a path of object keys; a step through a non-object is absent.
pub fn path<'a>(v: Option<&'a Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v?, |cur, key| get(Some(cur), key))
}

/// Rego truthiness: present and not `false`. `null`, `0`, `""`, `[]` and `{}` are truthy.
pub fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

/// The elements of an array or the values of an object; nothing for any other value.
pub fn iter<'a>(v: Option<&'a Value>) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
    match v {
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(Value::Object(map)) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Rego `count`: code points of a string, elements of an array, keys of an object.
pub fn count(v: Option<&Value>) -> Option<usize> {
    match v? {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(items) => Some(items.len()),
        Value::Object(map) => Some(map.len()),
        _ => None,
    }
}

/// The string value, when `v` is a present string.
pub fn as_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// JSON equality with numeric comparison of numbers (`1 == 1.0`); absent equals nothing.
pub fn eq(a: Option<&Value>, b: &Value) -> bool {
    a.is_some_and(|a| compare(a, b) == Ordering::Equal)
}

/// `a ≤ b` in OPA's total order; false when either side is absent.
pub fn le(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => compare(a, b) != Ordering::Greater,
        _ => false,
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// An exact integer view of a JSON number, when it has one.
fn as_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    if let (Some(a), Some(b)) = (as_integer(a), as_integer(b)) {
        return a.cmp(&b);
    }
    let a = a.as_f64().unwrap_or(f64::NAN);
    let b = b.as_f64().unwrap_or(f64::NAN);
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

fn compare_objects(a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
    // Keys are held sorted (serde_json's default map is ordered by key bytes).
    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
        let ord = ka
            .as_bytes()
            .cmp(kb.as_bytes())
            .then_with(|| compare(va, vb));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// OPA's total order over values (contract §4.2): type first, then value.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b.iter()) {
                let ord = compare(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.len().cmp(&b.len())
        }
        (Value::Object(a), Value::Object(b)) => compare_objects(a, b),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// Sorts ascending in OPA's order and removes duplicates, as an OPA set prints.
pub fn canonicalize(values: &mut Vec<Value>) {
    values.sort_by(compare);
    values.dedup_by(|a, b| compare(a, b) == Ordering::Equal);
}

/// `a − b + 1` for JSON numbers, exact on integers (u64 inputs fit in `i128`).
pub fn excess_plus_one(a: Option<&Value>, b: Option<&Value>) -> Option<Value> {
    let (Some(Value::Number(a)), Some(Value::Number(b))) = (a, b) else {
        return None;
    };
    if let (Some(a), Some(b)) = (as_integer(a), as_integer(b)) {
        return Some(integer_value(a - b + 1));
    }
    let value = a.as_f64()? - b.as_f64()? + 1.0;
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "integral and below 2^53, so the conversion is exact"
        )]
        return Some(integer_value(value as i128));
    }
    Number::from_f64(value).map(Value::Number)
}

fn integer_value(n: i128) -> Value {
    if let Ok(n) = i64::try_from(n) {
        Value::from(n)
    } else if let Ok(n) = u64::try_from(n) {
        Value::from(n)
    } else {
        #[expect(
            clippy::cast_precision_loss,
            reason = "beyond 64 bits JSON tools read numbers as floats anyway"
        )]
        Number::from_f64(n as f64).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn truthiness_follows_rego() {
        for v in [
            json!(null),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
            json!(true),
        ] {
            assert!(truthy(Some(&v)), "{v} must be truthy");
        }
        assert!(!truthy(Some(&json!(false))));
        assert!(!truthy(None));
    }

    #[test]
    fn order_is_type_first_then_value() {
        let mut values = vec![
            json!({"msg": "b"}),
            json!("a"),
            json!({"code": "x", "msg": "z"}),
            json!(2),
            json!(1.5),
            json!(null),
            json!([1]),
            json!(true),
            json!(false),
            json!("a"),
        ];
        canonicalize(&mut values);
        assert_eq!(
            values,
            vec![
                json!(null),
                json!(false),
                json!(true),
                json!(1.5),
                json!(2),
                json!("a"),
                json!([1]),
                json!({"code": "x", "msg": "z"}),
                json!({"msg": "b"}),
            ]
        );
    }

    #[test]
    fn numbers_compare_numerically_and_exactly() {
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(
            compare(&json!(u64::MAX), &json!(u64::MAX - 1)),
            Ordering::Greater
        );
        assert!(le(Some(&json!(3)), Some(&json!("a"))));
        assert!(!le(Some(&json!("a")), Some(&json!(3))));
        assert!(!le(None, Some(&json!(3))));
    }

    #[test]
    fn excess_is_exact_for_u64() {
        assert_eq!(
            excess_plus_one(Some(&json!(u64::MAX)), Some(&json!(1))),
            Some(json!(u64::MAX))
        );
        assert_eq!(
            excess_plus_one(Some(&json!(10)), Some(&json!(3))),
            Some(json!(8))
        );
        assert_eq!(excess_plus_one(Some(&json!("10")), Some(&json!(3))), None);
    }

    #[test]
    fn depth_limits_agree_between_text_and_values() {
        // Malformed and too deep: the depth is found first, as the parser descends.
        assert_eq!(
            parse_limited("[".repeat(MAX_DEPTH + 1).as_bytes(), "input"),
            Err(JsonError::TooDeep(too_deep_message("input")))
        );
        assert!(matches!(
            parse_limited(b"[1, 2", "input"),
            Err(JsonError::Malformed(m)) if m.starts_with("input is not valid JSON: ")
        ));
        for depth in [0, 1, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 500] {
            let text = format!(r#"{}"a[{{\"b"{}"#, "[".repeat(depth), "]".repeat(depth));
            let value: Value = if depth <= 120 {
                serde_json::from_str(&text).unwrap()
            } else {
                Value::Null
            };
            let want = depth <= MAX_DEPTH;
            match parse_limited(text.as_bytes(), "document") {
                Ok(parsed) => {
                    assert!(want, "{depth}");
                    assert_eq!(parsed, value);
                }
                Err(e) => {
                    assert!(!want, "{depth}");
                    assert_eq!(e, JsonError::TooDeep(too_deep_message("document")));
                }
            }
            if depth <= 120 {
                assert_eq!(depth_within_limit(&value), want, "{depth}");
            }
        }
    }

    #[test]
    fn paths_through_non_objects_are_absent() {
        let v = json!({"a": {"b": [1]}, "n": null});
        assert_eq!(path(Some(&v), &["a", "b"]), Some(&json!([1])));
        assert_eq!(path(Some(&v), &["a", "b", "c"]), None);
        assert_eq!(path(Some(&v), &["n", "x"]), None);
        assert_eq!(count(Some(&json!("héllo"))), Some(5));
        assert_eq!(count(Some(&json!(5))), None);
    }
}
