//! Compact JSON text, byte for byte what `serde_json` prints, without its float printer.
//!
//! `policy.wasm` is instantiated on every request, and every instantiation copies the module's
//! data segments into fresh memory, one page fault per 4 KiB touched. `serde_json`'s float
//! printer brings a 17 KiB table, more than a quarter of the module's static data, for the
//! rare float a result or a message prints. Here floats go through `core`'s shortest
//! round-trip digits instead, laid out the way `serde_json` lays them out: plain between
//! 1e-5 and 1e16, scientific outside (`1e+16`, `1.5e-7`), and always with a `.` or an exponent.
//! A test checks the two printers agree on every kind of float.

use std::fmt::{self, Write};

use serde_json::{Number, Value};

/// A value shown as compact JSON text.
pub struct Json<'a>(pub &'a Value);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value(f, self.0)
    }
}

/// The compact JSON text of `v`.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_value(&mut out, v);
    out
}

/// `s` as a JSON string literal, quoted and escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing to a `String` cannot fail.
    let _ = write_string(&mut out, s);
    out
}

/// Writes the compact JSON text of `v`.
///
/// # Errors
///
/// Only the writer's own errors.
pub fn write_value(w: &mut impl Write, v: &Value) -> fmt::Result {
    match v {
        Value::Null => w.write_str("null"),
        Value::Bool(true) => w.write_str("true"),
        Value::Bool(false) => w.write_str("false"),
        Value::Number(n) => write_number(w, n),
        Value::String(s) => write_string(w, s),
        Value::Array(items) => write_array(w, items),
        Value::Object(map) => {
            w.write_char('{')?;
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                write_string(w, key)?;
                w.write_char(':')?;
                write_value(w, item)?;
            }
            w.write_char('}')
        }
    }
}

/// Writes the compact JSON text of an array of `items`.
///
/// # Errors
///
/// Only the writer's own errors.
pub fn write_array(w: &mut impl Write, items: &[Value]) -> fmt::Result {
    w.write_char('[')?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        write_value(w, item)?;
    }
    w.write_char(']')
}

/// A JSON string literal, escaped as `serde_json` escapes: `"`, `\`, and control characters
/// (`\b \t \n \f \r` by name, the others as `\u00XX`).
fn write_string(w: &mut impl Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0..0x20 => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(w, "\\u{b:04x}")?;
        } else {
            w.write_str(escape)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

fn write_number(w: &mut impl Write, n: &Number) -> fmt::Result {
    if let Some(i) = n.as_i64() {
        write!(w, "{i}")
    } else if let Some(u) = n.as_u64() {
        write!(w, "{u}")
    } else {
        write_float(w, n.as_f64().unwrap_or(0.0))
    }
}

/// A finite float in `serde_json`'s layout, from `core`'s shortest round-trip digits.
fn write_float(w: &mut impl Write, x: f64) -> fmt::Result {
    if x == 0.0 {
        return w.write_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    // `{:e}` gives the shortest digits that round-trip: `-1.2345e-7`.
    let sci = format!("{x:e}");
    let (sign, sci) = sci
        .strip_prefix('-')
        .map_or(("", sci.as_str()), |s| ("-", s));
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // The position of the decimal point after the first `point` digits.
    let point = exponent + 1;
    w.write_str(sign)?;
    if (1..=16).contains(&point) {
        if len <= point {
            w.write_str(&digits)?;
            for _ in len..point {
                w.write_char('0')?;
            }
            w.write_str(".0")
        } else {
            let (int, frac) = digits.split_at(point.unsigned_abs() as usize);
            write!(w, "{int}.{frac}")
        }
    } else if (-4..=0).contains(&point) {
        w.write_str("0.")?;
        for _ in point..0 {
            w.write_char('0')?;
        }
        w.write_str(&digits)
    } else {
        let (first, rest) = digits.split_at(1);
        w.write_str(first)?;
        if !rest.is_empty() {
            write!(w, ".{rest}")?;
        }
        write!(w, "e{exponent:+}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn same_as_serde_json(v: &Value) {
        assert_eq!(to_string(v), v.to_string(), "{v:?}");
    }

    #[test]
    fn documents_print_as_serde_json_prints_them() {
        same_as_serde_json(&json!({
            "a": [1, -2, 18_446_744_073_709_551_615_u64, i64::MIN, true, false, null],
            "s": "quote \" backslash \\ nl \n tab \t cr \r bs \u{8} ff \u{c} nul \u{0} us \u{1f} del \u{7f} é 😀",
            "": {},
            "e": [],
        }));
    }

    #[test]
    fn floats_at_every_layout_boundary_print_as_serde_json_prints_them() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1.5,
            1e-4,
            1e-5,
            1.5e-5,
            1e-6,
            1.5e-7,
            9.999e-5,
            1e15,
            1e16,
            1.5e16,
            9.9e15,
            123_456_789.125,
            1e21,
            1e300,
            -1e-300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            4_503_599_627_370_496.5,
            0.3,
            2.0 / 3.0,
        ] {
            same_as_serde_json(&json!(x));
        }
    }

    proptest! {
        #[test]
        fn any_finite_float_prints_as_serde_json_prints_it(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let v = json!(x);
            prop_assert_eq!(to_string(&v), v.to_string());
        }

        #[test]
        fn any_string_prints_as_serde_json_prints_it(s in any::<String>()) {
            let v = Value::String(s);
            prop_assert_eq!(to_string(&v), v.to_string());
        }
    }
}
