//! A JSON parser for `policy.wasm`'s hot path, accepting exactly what `serde_json` accepts.
//!
//! `serde_json`'s deserializer spends about 33 wasm instructions per byte of a document of short
//! strings (its visitor plumbing, a UTF-8 check per string, a copy per string, vector growth).
//! This parser finds string ends eight bytes at a time, checks UTF-8 only in strings that are
//! not ASCII (found by the same scan), and with [`load_data`] builds values only for the parts
//! of the data document the rules read: ban lists stay text ([`crate::raw_list`]) and top-level
//! keys no rule reads are only validated. With [`parse_input`] it builds only the members of an
//! input that the entrypoint's rules read ([`crate::input_shape`]).
//!
//! It never decides an error itself. Whatever it does not take on the fast path (strings with
//! escapes, numbers other than small non-negative integers) it hands to `serde_json` token by
//! token, through the same deserializer as the fallback (so `policy.wasm` holds one copy of
//! it); on any failure it returns `None`, and the caller parses the whole document with
//! [`crate::value::parse_limited`], whose verdict and message are the contract's. Property tests
//! check that both parsers accept the same texts and build the same values.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::{
    constraint::CONSTRAINTS,
    data::READ_KEYS,
    input_shape::Shape,
    raw_list::{LIST_KEYS, ListSlot, RawArray, RawLists},
    value::{JsonError, MAX_DEPTH, parse_limited},
};

/// Parses a whole JSON text into a value; `None` when `serde_json` must decide (see the module
/// documentation).
pub fn parse(text: &str) -> Option<Value> {
    parse_to(text.as_bytes(), &Shape::Whole)
}

/// [`parse`] of any bytes, building only what `shape` names.
fn parse_to(text: &[u8], shape: &Shape) -> Option<Value> {
    let mut p = Parser::new(text);
    let value = p.shaped(1, shape).ok()?;
    p.end().ok()?;
    Some(value)
}

/// Parses a JSON document with [`crate::value::parse_limited`]'s result (the same value, or
/// the same error), by the fast parser whenever it can.
///
/// # Errors
///
/// As [`crate::value::parse_limited`].
pub fn parse_document(text: &[u8], what: &str) -> Result<Value, JsonError> {
    document_to(text, what, &Shape::Whole)
}

/// Parses an entrypoint's input document into the part of it `shape` names
/// ([`Shape::prune`] of the whole value), validating the rest without building it.
///
/// # Errors
///
/// As [`crate::value::parse_limited`] with `what` `"input"`. Where `serde_json` must decide,
/// the value it returns on success is the whole input, which the rules decide alike.
pub fn parse_input(text: &[u8], shape: &Shape) -> Result<Value, JsonError> {
    document_to(text, "input", shape)
}

/// [`parse_to`], and `serde_json`'s verdict whenever it must decide.
fn document_to(text: &[u8], what: &str, shape: &Shape) -> Result<Value, JsonError> {
    match parse_to(text, shape) {
        Some(value) => Ok(value),
        None => parse_limited(text, what),
    }
}

/// Parses a data document for [`crate::PolicyData::compile_parts`]: the value holds what the
/// rules read, except the arrays kept as text, which come back in [`RawLists`]. The bytes need
/// not be UTF-8: they are checked as they are read.
///
/// `None` when `serde_json` must decide, as for [`parse`].
pub fn load_data(text: &'static [u8]) -> Option<(Value, RawLists)> {
    let mut p = Parser::new(text);
    let mut raw = RawLists::default();
    p.ws();
    let value = if p.peek() == Some(b'{') {
        p.data_root(&mut raw).ok()?
    } else {
        p.value(1).ok()?
    };
    p.end().ok()?;
    Some((value, raw))
}

/// Any reason to hand the document to `serde_json`.
struct Fallback;

type Step<T> = Result<T, Fallback>;

/// Where a data member sits, for deciding what to build.
#[derive(Clone, Copy)]
enum Place {
    /// Under a top-level key that is the first key of some constraint paths.
    ConstraintParent(&'static str),
    /// In constraint object `CONSTRAINTS[i]`.
    Constraint(usize),
    /// Anywhere else that is read: built as a value.
    Elsewhere,
}

const WORD: usize = 8;
const ONES: u64 = u64::from_le_bytes([0x01; WORD]);
const HIGHS: u64 = u64::from_le_bytes([0x80; WORD]);

/// A mask with the high bit set in the lowest byte of `w` that is `"`, `\`, a control byte
/// (below 0x20) or, with `NON_ASCII`, not ASCII (0x80 and above). Higher bits may be spurious,
/// the lowest never is.
///
/// With `NON_ASCII` each test is one subtraction: for a byte below 0x80, `x - c` has its high
/// bit set exactly when `x < c`, and a byte that borrows is itself marked, so no borrow reaches
/// the lowest marked byte; bytes from 0x80 up are marked by their own high bit. Without it, a
/// byte from 0x80 up must not be marked, and each test needs `& !x` as well.
fn special_bytes<const NON_ASCII: bool>(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let below = |x: u64, c: u64| x.wrapping_sub(ONES * c);
    if NON_ASCII {
        (below(quote, 1) | below(backslash, 1) | below(w, 0x20) | w) & HIGHS
    } else {
        (below(quote, 1) & !quote | below(backslash, 1) & !backslash | below(w, 0x20) & !w) & HIGHS
    }
}

/// The index of the first `"`, `\`, control byte or (with `NON_ASCII`) byte that is not ASCII,
/// at or after `i`; `bytes.len()` when there is none.
#[inline]
fn find_special<const NON_ASCII: bool>(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + WORD) {
        let mut word = [0; WORD];
        word.copy_from_slice(chunk);
        let mask = special_bytes::<NON_ASCII>(u64::from_le_bytes(word));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += WORD;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 || NON_ASCII && b >= 0x80 {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// The parser's cursor over bytes that need not be UTF-8.
///
/// It moves past a byte only when the byte is ASCII that a comparison accepted, or inside a
/// string token that [`Parser::string`] checked as UTF-8. So any stretch it has read between
/// tokens is UTF-8, and [`Parser::read`] lends it as text without a second check: the text of
/// a megabyte of ban lists is checked by the scan that finds its strings' ends, instead of by
/// `core::str::from_utf8` over every byte first.
struct Parser<'t> {
    bytes: &'t [u8],
    pos: usize,
}

/// A string token: its contents without escapes, or its whole JSON text when it has some.
#[derive(Clone, Copy)]
enum Str<'t> {
    Plain(&'t str),
    Escaped(&'t str),
}

impl Str<'_> {
    /// The token, once an escaped one is known to decode.
    fn checked(self) -> Step<Self> {
        if let Str::Escaped(_) = self {
            self.into_string()?;
        }
        Ok(self)
    }

    fn into_string(self) -> Step<String> {
        match self {
            Str::Plain(s) => Ok(s.to_owned()),
            Str::Escaped(json) => match parse_limited(json.as_bytes(), "string") {
                Ok(Value::String(s)) => Ok(s),
                _ => Err(Fallback),
            },
        }
    }
}

impl<'t> Parser<'t> {
    fn new(bytes: &'t [u8]) -> Self {
        Parser { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Step<()> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    fn end(&mut self) -> Step<()> {
        self.ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    /// The text of `from..to`, which the parser has read (see [`Parser`]): it starts and ends
    /// between tokens, or just inside a string's quotes.
    #[expect(
        unsafe_code,
        reason = "the parser checked every byte it read; a second UTF-8 check costs as much as \
                  the scan"
    )]
    fn read(&self, from: usize, to: usize) -> Step<&'t str> {
        let bytes = self.bytes.get(from..to).ok_or(Fallback)?;
        debug_assert!(core::str::from_utf8(bytes).is_ok(), "read text is UTF-8");
        // SAFETY: every byte of `bytes` is ASCII that a comparison accepted, or inside a string
        // token `string` checked with `core::str::from_utf8` (the `Parser` invariant), and both
        // ends are at ASCII bytes or the ends of the buffer, so `bytes` is UTF-8.
        Ok(unsafe { core::str::from_utf8_unchecked(bytes) })
    }

    /// A string token, the cursor on its opening quote; its bytes are checked as UTF-8 when
    /// some are not ASCII.
    fn string(&mut self) -> Step<Str<'t>> {
        let open = self.pos;
        let mut i = open + 1;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            i = if ascii {
                find_special::<true>(self.bytes, i)
            } else {
                find_special::<false>(self.bytes, i)
            };
            match self.bytes.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    // The escaped byte is stepped over unread: one that is not ASCII is no
                    // escape, and not ours to decide.
                    if !self.bytes.get(i + 1).is_some_and(u8::is_ascii) {
                        return Err(Fallback);
                    }
                    escaped = true;
                    i += 2;
                }
                Some(0x80..) => ascii = false,
                _ => return Err(Fallback),
            }
        }
        let token = self.bytes.get(open..=i).ok_or(Fallback)?;
        if !ascii && core::str::from_utf8(token).is_err() {
            return Err(Fallback);
        }
        self.pos = i + 1;
        Ok(if escaped {
            Str::Escaped(self.read(open, i + 1)?)
        } else {
            Str::Plain(self.read(open + 1, i)?)
        })
    }

    fn number(&mut self) -> Step<Value> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        let token = self.read(start, self.pos)?;
        let digits = token.bytes().all(|b| b.is_ascii_digit());
        if digits && (token.len() == 1 || !token.starts_with('0')) && token.len() <= 18 {
            return token.parse::<u64>().map(Value::from).map_err(|_| Fallback);
        }
        match parse_limited(token.as_bytes(), "number") {
            Ok(number @ Value::Number(_)) => Ok(number),
            _ => Err(Fallback),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Step<Value> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(Fallback)
        }
    }

    /// A value at nesting level `depth` (the top-level value is at 1 if it is a container).
    fn value(&mut self, depth: usize) -> Step<Value> {
        self.ws();
        match self.peek().ok_or(Fallback)? {
            b'"' => self.string()?.into_string().map(Value::String),
            b'{' => {
                let mut map = Map::new();
                self.members(depth, |p, key| {
                    let value = p.value(depth + 1)?;
                    map.insert(key.into_string()?, value);
                    Ok(())
                })?;
                Ok(Value::Object(map))
            }
            b'[' => {
                let mut items = Vec::new();
                self.elements(depth, |p| {
                    items.push(p.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Fallback),
        }
    }

    /// A value at `depth`, built as far as `shape` names its members.
    fn shaped(&mut self, depth: usize, shape: &Shape) -> Step<Value> {
        self.ws();
        if matches!(shape, Shape::Whole) || self.peek() != Some(b'{') {
            return self.value(depth);
        }
        let mut map = Map::new();
        self.members(depth, |p, key| {
            // A key without escapes is looked up in place, and copied only when kept.
            let key = match key {
                Str::Plain(key) => Cow::Borrowed(key),
                escaped @ Str::Escaped(_) => Cow::Owned(escaped.into_string()?),
            };
            let Some(inner) = shape.member(&key) else {
                return p.skip(depth + 1);
            };
            let value = p.shaped(depth + 1, inner)?;
            map.insert(key.into_owned(), value);
            Ok(())
        })?;
        Ok(Value::Object(map))
    }

    /// Validates a value without building it.
    fn skip(&mut self, depth: usize) -> Step<()> {
        self.ws();
        match self.peek().ok_or(Fallback)? {
            b'"' => self.string()?.checked().map(drop),
            b'{' => self.members(depth, |p, key| {
                key.checked()?;
                p.skip(depth + 1)
            }),
            b'[' => self.elements(depth, |p| p.skip(depth + 1)),
            b't' => self.literal("true", Value::Null).map(drop),
            b'f' => self.literal("false", Value::Null).map(drop),
            b'n' => self.literal("null", Value::Null).map(drop),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => Err(Fallback),
        }
    }

    /// The items of an array or an object, the cursor on its opening bracket; `item` reads
    /// each one, and `close` is the closing bracket.
    fn items(
        &mut self,
        depth: usize,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Step<()>,
    ) -> Step<()> {
        if depth > MAX_DEPTH {
            return Err(Fallback);
        }
        self.pos += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Fallback),
            }
        }
    }

    /// The members of an object, the cursor on its `{`; `member` reads each value.
    fn members(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, Str<'t>) -> Step<()>,
    ) -> Step<()> {
        self.items(depth, b'}', |p| {
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(Fallback);
            }
            let key = p.string()?;
            p.eat(b':')?;
            member(p, key)
        })
    }

    /// The elements of an array, the cursor on its `[`; `element` reads each one.
    fn elements(&mut self, depth: usize, element: impl FnMut(&mut Self) -> Step<()>) -> Step<()> {
        self.items(depth, b']', element)
    }
}

impl Parser<'static> {
    /// An array at `depth` kept as text, the cursor on its `[`: validated, and the place of
    /// each element recorded.
    fn raw_array(&mut self, depth: usize) -> Step<RawArray> {
        let start = self.pos;
        let mut array = RawArray::new("");
        self.elements(depth, |p| {
            p.ws();
            let mut item = p.pos;
            if p.peek() == Some(b'"') {
                // The common case, ASCII strings without escapes, found without building
                // anything; and while each is followed by `,"` (a host's compact JSON), the next
                // one is read here too, without a turn of the element loop.
                loop {
                    let end = find_special::<true>(p.bytes, item + 1);
                    if p.bytes.get(end) != Some(&b'"') {
                        break;
                    }
                    array
                        .push(item + 1 - start..end - start, true)
                        .ok_or(Fallback)?;
                    p.pos = end + 1;
                    if p.bytes.get(end + 1..end + 3) != Some(b",\"") {
                        return Ok(());
                    }
                    item = end + 2;
                }
                p.pos = item;
                // Not ASCII, or escaped: a plain string still, if it has no escapes.
                if let Str::Plain(_) = p.string()?.checked()? {
                    return array
                        .push(item + 1 - start..p.pos - 1 - start, true)
                        .ok_or(Fallback);
                }
            } else {
                p.skip(depth + 1)?;
            }
            array
                .push(item - start..p.pos - start, false)
                .ok_or(Fallback)
        })?;
        array.set_text(self.read(start, self.pos)?);
        Ok(array)
    }

    /// The data document's root object, the cursor on its `{`.
    fn data_root(&mut self, raw: &mut RawLists) -> Step<Value> {
        let mut map = Map::new();
        self.members(1, |p, key| {
            let key = key.into_string()?;
            if key == "admin_clients" {
                return p.list_or_value(&mut map, key, ListSlot::ADMIN_CLIENTS, 2, raw);
            }
            if !READ_KEYS.contains(&key.as_str()) {
                return p.skip(2);
            }
            let place = CONSTRAINTS
                .iter()
                .find(|c| c[0] == key)
                .map_or(Place::Elsewhere, |c| Place::ConstraintParent(c[0]));
            p.data_member(&mut map, key, place, 2, raw)
        })?;
        Ok(Value::Object(map))
    }

    /// A member of the data document at `depth`, in `place`.
    fn data_member(
        &mut self,
        map: &mut Map<String, Value>,
        key: String,
        place: Place,
        depth: usize,
        raw: &mut RawLists,
    ) -> Step<()> {
        // A later duplicate key replaces the earlier one's value, lists kept as text included.
        match place {
            Place::Elsewhere => {
                let value = self.value(depth)?;
                map.insert(key, value);
                return Ok(());
            }
            Place::ConstraintParent(parent) => {
                for (i, _) in CONSTRAINTS
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c[0] == parent)
                {
                    raw.clear(ListSlot::of_constraint(i));
                }
            }
            Place::Constraint(i) => raw.clear(ListSlot::of_constraint(i)),
        }
        self.ws();
        if self.peek() != Some(b'{') {
            let value = self.value(depth)?;
            map.insert(key, value);
            return Ok(());
        }
        let mut inner = Map::new();
        self.members(depth, |p, child| {
            let child = child.into_string()?;
            let next = match place {
                Place::ConstraintParent(parent) => CONSTRAINTS
                    .iter()
                    .position(|c| c[0] == parent && c[1] == child)
                    .map_or(Place::Elsewhere, Place::Constraint),
                Place::Constraint(i) => match LIST_KEYS.iter().position(|k| *k == child) {
                    Some(k) => {
                        let slot = ListSlot::constraint_list(i, k);
                        return p.list_or_value(&mut inner, child, slot, depth + 1, raw);
                    }
                    None => Place::Elsewhere,
                },
                // Not reached: a member elsewhere is built whole above.
                Place::Elsewhere => Place::Elsewhere,
            };
            p.data_member(&mut inner, child, next, depth + 1, raw)
        })?;
        map.insert(key, Value::Object(inner));
        Ok(())
    }

    /// A list at `depth` that is kept as text when it is an array, and built as a value
    /// otherwise.
    fn list_or_value(
        &mut self,
        map: &mut Map<String, Value>,
        key: String,
        slot: ListSlot,
        depth: usize,
        raw: &mut RawLists,
    ) -> Step<()> {
        self.ws();
        if self.peek() == Some(b'[') {
            raw.set(slot, Some(self.raw_array(depth)?));
            map.remove(&key);
        } else {
            raw.set(slot, None);
            let value = self.value(depth)?;
            map.insert(key, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::{Entrypoint, PolicyData, value::JsonError};

    fn serde(text: &str) -> Result<Value, JsonError> {
        parse_limited(text.as_bytes(), "document")
    }

    /// Arbitrary JSON values, with the strings and numbers that take the slow paths.
    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z\"\\\\/\u{0}-\u{1f}é€𝄞]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"é]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// JSON text with whitespace between tokens, as a host might send it.
    fn spaced(v: &Value, ws: &str) -> String {
        match v {
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(|i| spaced(i, ws)).collect();
                format!("[{ws}{}{ws}]", inner.join(&format!("{ws},{ws}")))
            }
            Value::Object(map) => {
                let inner: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{}{ws}:{ws}{}", json!(k), spaced(v, ws)))
                    .collect();
                format!("{{{ws}{}{ws}}}", inner.join(&format!("{ws},{ws}")))
            }
            other => other.to_string(),
        }
    }

    proptest! {
        #[test]
        fn builds_what_serde_json_builds(v in values(), ws in "[ \t\n\r]{0,2}") {
            let text = spaced(&v, &ws);
            prop_assert_eq!(parse(&text), serde(&text).ok());
        }

        /// Objects whose members come in any order and repeat keys (a host serialising a
        /// struct sends its fields in declaration order): the same map, the later value of a
        /// repeated key winning.
        #[test]
        fn members_in_any_order_and_repeated(
            members in prop::collection::vec(("[abé]{0,2}", values()), 0..12),
        ) {
            let inner: Vec<String> =
                members.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
            let text = format!("{{{}}}", inner.join(","));
            prop_assert_eq!(parse(&text), serde(&text).ok(), "{}", text);
        }

        /// Broken texts: whatever this parser accepts, serde_json accepts as the same value.
        #[test]
        fn never_accepts_what_serde_json_refuses(
            v in values(),
            at in any::<prop::sample::Index>(),
            cut in 0_usize..3,
            insert in "[\\[\\]{}:,\"\\\\0-9a-z.eE+ \u{0}-]{0,2}",
        ) {
            let text = v.to_string();
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let broken = format!("{}{insert}{}", &text[..at], &text[end..]);
            if let Some(ours) = parse(&broken) {
                prop_assert_eq!(Ok(ours), serde(&broken), "{}", broken);
            }
        }

        /// An input read to an entrypoint's shape is the whole value pruned to it, whatever
        /// the members and their order; and a broken input is refused as `serde_json` refuses it.
        #[test]
        fn parse_input_builds_the_pruned_value(
            members in prop::collection::vec((
                prop::sample::select(vec!["user", "username", "client", "id", "scope", "é\\\"", ""]),
                values(),
            ), 0..8),
            at in any::<prop::sample::Index>(),
            insert in "[\\[\\]{}:,\"0-9a-z]{0,2}",
        ) {
            let inner: Vec<String> =
                members.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
            let text = format!("{{{}}}", inner.join(","));
            let whole = serde(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let at = at.index(text.len() + 1);
            let broken = text.is_char_boundary(at).then(|| format!("{}{insert}{}", &text[..at], &text[at..]));
            for entrypoint in Entrypoint::ALL {
                let shape = entrypoint.input_shape();
                prop_assert_eq!(parse_input(text.as_bytes(), shape), Ok(shape.prune(&whole)), "{}", text);
                if let Some(broken) = &broken {
                    match (parse_input(broken.as_bytes(), shape), serde(broken)) {
                        (Ok(ours), Ok(full)) => prop_assert!(ours == shape.prune(&full) || ours == full),
                        (Err(JsonError::Malformed(_)), Err(JsonError::Malformed(_))) => {}
                        (ours, full) => prop_assert!(false, "{}: {:?} against {:?}", broken, ours, full),
                    }
                }
            }
        }

        /// Bytes that are not UTF-8, put anywhere in a text: the document parser gives
        /// `serde_json`'s verdict, and the loader takes only what `serde_json` takes (the
        /// loader reads without a UTF-8 check of the whole text first).
        #[test]
        fn bytes_that_are_not_utf8_get_serde_jsons_verdict(
            v in values(),
            at in any::<prop::sample::Index>(),
            bytes in prop::collection::vec(
                prop_oneof![0x80_u8..=0xff, Just(b'"'), Just(b'\\'), any::<u8>()], 1..4),
            replace in any::<bool>(),
        ) {
            let text = format!(
                r#"{{"admin_clients": {v}, "unread": {v}, "registration": {{"banned_usernames": {{"literals": {v}}}}}}}"#
            );
            let mut text = text.into_bytes();
            let at = at.index(text.len() + 1);
            let end = if replace { (at + bytes.len()).min(text.len()) } else { at };
            text.splice(at..end, bytes);
            prop_assert_eq!(parse_document(&text, "document"), parse_limited(&text, "document"));
            let whole = parse_limited(&text, "document");
            let text: &'static [u8] = Box::leak(text.into_boxed_slice());
            if load_data(text).is_some() {
                prop_assert!(whole.is_ok(), "{}", String::from_utf8_lossy(text));
            }
        }

        /// A data document read through the loader decides as the same document read whole.
        #[test]
        fn loaded_data_decides_as_the_whole_document(
            lists in prop::collection::vec(values(), 4),
            username in prop_oneof![Just(json!("bob")), Just(json!("é\"x")), Just(json!(5)), Just(json!(null))],
            dup in any::<bool>(),
        ) {
            let [literals, substrings, prefixes, suffixes]: [Value; 4] =
                lists.try_into().unwrap_or_else(|_| unreachable!());
            let mut items = vec![json!("bob"), json!("é\"x"), json!(5.0), json!({"a": [1]})];
            items.push(literals);
            let constraint = json!({
                "literals": items,
                "substrings": [substrings, "o"],
                "prefixes": prefixes,
                "suffixes": [suffixes, "x"],
            });
            let first = if dup { r#""registration": {"banned_usernames": {"literals": ["zed"]}},"# } else { "" };
            let text = format!(
                r#"{{{first} "unread": [1, {{"deep": "x"}}], "registration": {{"banned_usernames": {constraint}}}, "admin_clients": ["c1", {username}]}}"#,
            );
            let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
            let (value, raw) = load_data(text).ok_or_else(|| TestCaseError::fail("loader refused"))?;
            let ours = PolicyData::compile_parts(value, raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let whole = PolicyData::compile_owned(parse_limited(text, "document").map_err(|e| TestCaseError::fail(format!("{e:?}")))?)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let register = json!({"registration_method": "password", "username": username});
            prop_assert_eq!(
                ours.evaluate(Entrypoint::Register, Some(&register)),
                whole.evaluate(Entrypoint::Register, Some(&register))
            );
            let grant = json!({
                "grant_type": "client_credentials", "scope": "urn:mas:admin",
                "client": {"id": username}, "requester": {},
            });
            prop_assert_eq!(
                ours.evaluate(Entrypoint::AuthorizationGrant, Some(&grant)),
                whole.evaluate(Entrypoint::AuthorizationGrant, Some(&grant))
            );
        }
    }

    /// The `admin_clients` list the loader kept as text from `text`, each element as
    /// `Plain(..)` or `Json(..)`.
    fn admin_client_items(text: &'static str) -> Vec<String> {
        let (_, raw) = load_data(text.as_bytes()).unwrap_or_else(|| unreachable!("valid"));
        raw.get(ListSlot::ADMIN_CLIENTS)
            .unwrap_or_else(|| unreachable!("kept"))
            .items()
            .map(|item| format!("{item:?}"))
            .collect()
    }

    #[test]
    fn strings_that_are_not_ascii_are_checked_where_they_are_read() {
        let leak = |text: &[u8]| -> &'static [u8] { Box::leak(text.to_vec().into_boxed_slice()) };
        assert_eq!(
            admin_client_items("{\"admin_clients\": [\"é\", \"a\", \"x€\\n\"]}"),
            [r#"Plain("é")"#, r#"Plain("a")"#, r#"Json("\"x€\\n\"")"#]
        );
        // A lone continuation byte, a truncated sequence and an overlong one, in a kept list,
        // a skipped member, a key, an escaped string and after a backslash: none is taken.
        for bad in [&b"\x80"[..], b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80"] {
            let [kept, skipped, key, escaped, after] = [
                [&br#"{"admin_clients": ["a", ""#[..], bad, br#""]}"#].concat(),
                [&br#"{"unread": ""#[..], bad, br#""}"#].concat(),
                [&br#"{""#[..], bad, br#"": 1}"#].concat(),
                [&br#"{"admin_clients": "\n"#[..], bad, br#""}"#].concat(),
                [&br#"{"admin_clients": "\"#[..], bad, br#""}"#].concat(),
            ];
            for text in [kept, skipped, key, escaped, after] {
                assert!(load_data(leak(&text)).is_none(), "{text:?}");
                assert!(parse_document(&text, "document").is_err(), "{text:?}");
            }
        }
    }

    #[test]
    fn a_run_of_compact_strings_is_read_whole_and_broken_anywhere() {
        let text = r#"{"admin_clients": ["a","b","\u0041","c","é","d",5,"e", "f","","g"]}"#;
        let items = admin_client_items(text);
        let plain = |s: &str| format!("Plain({s:?})");
        let json = |s: &str| format!("Json({s:?})");
        assert_eq!(
            items,
            [
                plain("a"),
                plain("b"),
                json(r#""\u0041""#),
                plain("c"),
                plain("é"),
                plain("d"),
                json("5"),
                plain("e"),
                plain("f"),
                plain(""),
                plain("g"),
            ]
        );
        // A run that ends in a broken separator or string is refused, as serde_json refuses it.
        for broken in [
            r#"["a","b",]"#,
            r#"["a","b""c"]"#,
            r#"["a","b,"c"]"#,
            r#"["a","b"#,
        ] {
            let text = format!(r#"{{"admin_clients": {broken}}}"#);
            assert!(load_data(Box::leak(text.into_bytes().into_boxed_slice())).is_none());
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_left_to_serde_json() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nest(MAX_DEPTH)).is_some());
        assert!(parse(&nest(MAX_DEPTH + 1)).is_none());
        let skipped = format!(r#"{{"unread": {}}}"#, nest(MAX_DEPTH));
        assert!(load_data(Box::leak(skipped.into_bytes().into_boxed_slice())).is_none());
        let listed = format!(r#"{{"admin_clients": {}}}"#, nest(MAX_DEPTH - 1));
        assert!(load_data(Box::leak(listed.into_bytes().into_boxed_slice())).is_some());
    }

    #[test]
    fn a_later_duplicate_replaces_a_list_kept_as_text() {
        let text = r#"{"admin_clients": ["c1"], "admin_clients": "c1",
            "emails": {"banned_addresses": {"literals": ["a@x"]}},
            "emails": {"banned_addresses": {"suffixes": "@x"}}}"#;
        let (value, raw) = load_data(text.as_bytes()).unwrap_or_else(|| unreachable!("valid"));
        assert!(raw.get(ListSlot::ADMIN_CLIENTS).is_none());
        assert_eq!(value["admin_clients"], json!("c1"));
        assert!((0..LIST_KEYS.len()).all(|k| raw.get(ListSlot::constraint_list(4, k)).is_none()));
        let text = r#"{"admin_clients": "c1", "admin_clients": ["c2"]}"#;
        let (value, raw) = load_data(text.as_bytes()).unwrap_or_else(|| unreachable!("valid"));
        assert!(raw.get(ListSlot::ADMIN_CLIENTS).is_some());
        assert_eq!(value.get("admin_clients"), None);
    }
}
