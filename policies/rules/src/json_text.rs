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
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    round_tie_to_even(&mut digits, exponent, x.abs());
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

/// Where `x` lies exactly halfway between two shortest round-trip digit strings, `core` takes
/// the one above and `serde_json` (ryu) the one whose last digit is even: this takes ryu's.
/// `digits` is `core`'s choice for `x` (positive, finite), with the decimal point after the
/// first digit and `exponent` as in `{:e}`.
///
/// Decided in integers: no float parsing and no exact-mode formatting, whose tables would add
/// pages of static data that every MAS request pays for.
fn round_tie_to_even(digits: &mut String, exponent: i32, x: f64) {
    let Some(last) = digits.bytes().last().filter(|d| d % 2 == 1) else {
        return;
    };
    let below = format!("{}{}", &digits[..digits.len() - 1], char::from(last - 1));
    let (Ok(len), Ok(midpoint)) = (
        i32::try_from(below.len()),
        format!("{below}5").parse::<u64>(),
    ) else {
        return;
    };
    // The midpoint is `midpoint × 10^scale`; `x` is a tie when it is exactly that.
    let scale = exponent - len;
    let (mantissa, ulp) = binary_parts(x);
    let odd = |n: u64| {
        (
            n >> n.trailing_zeros(),
            i32::try_from(n.trailing_zeros()).unwrap_or(0),
        )
    };
    // x = odd_x × 2^twos_x and the midpoint's digits odd_mid × 2^twos_mid, both odd parts odd.
    let (odd_x, twos) = odd(mantissa);
    let twos_x = twos + ulp;
    let (odd_mid, twos_mid) = odd(midpoint);
    let product = |a: u64, fives: i32| pow5(fives).and_then(|p| p.checked_mul(u128::from(a)));
    let tie = if scale >= 0 {
        twos_mid + scale == twos_x && product(odd_mid, scale) == Some(u128::from(odd_x))
    } else {
        twos_mid == twos_x - scale && product(odd_x, -scale) == Some(u128::from(odd_mid))
    };
    // The digits below are as near as core's (half a unit of their last digit, 5 × 10^scale);
    // they read back as `x` too, except when `x` is a power of two, whose lower neighbour is
    // twice as near: then only if 5 × 10^scale is at most a quarter of 2^ulp, that is
    // 10^(scale+1) ≤ 2^(ulp-1) (a tie there rounds to `x`, whose mantissa is even).
    let power_of_two = mantissa == 1 << 52 && ulp > -1074;
    if tie && (!power_of_two || ten_to_at_most_two_to(scale + 1, ulp - 1)) {
        *digits = below;
    }
}

/// `x` (positive, finite) as `mantissa × 2^ulp`, with `2^ulp` its spacing.
fn binary_parts(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let fraction = bits & ((1 << 52) - 1);
    match i32::try_from(bits >> 52).unwrap_or(0) {
        0 => (fraction, -1074),
        biased => (fraction | 1 << 52, biased - 1075),
    }
}

fn pow5(n: i32) -> Option<u128> {
    5_u128.checked_pow(u32::try_from(n).ok()?)
}

/// Whether `10^k ≤ 2^n`.
fn ten_to_at_most_two_to(k: i32, n: i32) -> bool {
    let two_to = |e: i32| u32::try_from(e).ok().and_then(|e| 1_u128.checked_shl(e));
    if k >= 0 {
        // 5^k ≤ 2^(n - k)
        n >= k && two_to(n - k).is_none_or(|t| pow5(k).is_some_and(|p| p <= t))
    } else {
        // 2^-(n - k) ≤ 5^-k
        n - k >= 0 || two_to(k - n).is_some_and(|t| pow5(-k).is_none_or(|p| t <= p))
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

    /// Powers of two, whose lower neighbour is nearer than the upper one, including those
    /// halfway between two shortest forms (2^-25 is 2.98023223876953125e-8).
    #[test]
    fn powers_of_two_print_as_serde_json_prints_them() {
        for p in -1074..=1023 {
            let x = 2_f64.powi(p);
            same_as_serde_json(&json!(x));
            same_as_serde_json(&json!(-x));
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

        /// Floats with few fractional bits (`m × 2^e`), where the exact value often lies
        /// halfway between two shortest forms: ryu's tie to the even digit, not core's.
        #[test]
        fn halfway_floats_print_as_serde_json_prints_them(
            m in (1_u64 << 52)..(1_u64 << 53),
            e in -8_i32..24,
            negative in any::<bool>(),
        ) {
            #[expect(clippy::cast_precision_loss, reason = "m has 53 bits, exact in f64")]
            let x = m as f64 * 2_f64.powi(e);
            let v = json!(if negative { -x } else { x });
            prop_assert_eq!(to_string(&v), v.to_string());
        }

        #[test]
        fn any_string_prints_as_serde_json_prints_it(s in any::<String>()) {
            let v = Value::String(s);
            prop_assert_eq!(to_string(&v), v.to_string());
        }
    }
}
