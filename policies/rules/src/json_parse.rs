//! A JSON parser for `policy.wasm`'s hot path, accepting exactly what `serde_json` accepts.
//!
//! `serde_json`'s deserializer spends about 33 wasm instructions per byte of a document of short
//! strings (its visitor plumbing, a UTF-8 check per string, a copy per string, vector growth).
//! This parser takes text whose UTF-8 is checked once, finds string ends eight bytes at a time,
//! and with [`load_data`] builds values only for the parts of the data document the rules read:
//! ban lists stay text ([`crate::raw_list`]) and top-level keys no rule reads are only
//! validated. With [`parse_input`] it builds only the members of an input that the
//! entrypoint's rules read ([`crate::input_shape`]).
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
    parse_to(text, &Shape::Whole)
}

/// [`parse`], building only what `shape` names.
fn parse_to(text: &str, shape: &Shape) -> Option<Value> {
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

/// [`parse_to`] on checked UTF-8, and `serde_json`'s verdict whenever it must decide.
fn document_to(text: &[u8], what: &str, shape: &Shape) -> Result<Value, JsonError> {
    match core::str::from_utf8(text)
        .ok()
        .and_then(|text| parse_to(text, shape))
    {
        Some(value) => Ok(value),
        None => parse_limited(text, what),
    }
}

/// Parses a data document for [`crate::PolicyData::compile_parts`]: the value holds what the
/// rules read, except the arrays kept as text, which come back in [`RawLists`].
///
/// `None` when `serde_json` must decide, as for [`parse`].
pub fn load_data(text: &'static str) -> Option<(Value, RawLists)> {
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

/// A mask with the high bit set in the lowest byte of `w` that is `"`, `\` or below 0x20 (higher
/// bits may be spurious, the lowest never is).
fn special_bytes(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
}

/// The index of the first `"`, `\` or control byte at or after `i`, or `bytes.len()`.
#[inline]
pub(crate) fn find_special(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + WORD) {
        let mut word = [0; WORD];
        word.copy_from_slice(chunk);
        let mask = special_bytes(u64::from_le_bytes(word));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += WORD;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
}

/// A string token: its contents without escapes, or its whole JSON text when it has some.
enum Str<'t> {
    Plain(&'t str),
    Escaped(&'t str),
}

impl Str<'_> {
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
    fn new(text: &'t str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
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

    fn slice(&self, from: usize, to: usize) -> Step<&'t str> {
        self.text.get(from..to).ok_or(Fallback)
    }

    /// A string token, the cursor on its opening quote.
    fn string(&mut self) -> Step<Str<'t>> {
        let open = self.pos;
        let mut i = open + 1;
        let mut escaped = false;
        loop {
            i = find_special(self.bytes, i);
            match self.bytes.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                _ => return Err(Fallback),
            }
        }
        self.pos = i + 1;
        Ok(if escaped {
            Str::Escaped(self.slice(open, i + 1)?)
        } else {
            Str::Plain(self.slice(open + 1, i)?)
        })
    }

    fn number(&mut self) -> Step<Value> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.pos += 1;
        }
        let token = self.slice(start, self.pos)?;
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
            b'"' => match self.string()? {
                Str::Plain(_) => Ok(()),
                escaped @ Str::Escaped(_) => escaped.into_string().map(drop),
            },
            b'{' => self.members(depth, |p, key| {
                if let Str::Escaped(_) = key {
                    key.into_string()?;
                }
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
            let item = p.pos;
            if p.peek() == Some(b'"') {
                // The common case, a string without escapes, found without building anything.
                let end = find_special(p.bytes, item + 1);
                if p.bytes.get(end) == Some(&b'"') {
                    p.pos = end + 1;
                    return array
                        .push(item + 1 - start..end - start, true)
                        .ok_or(Fallback);
                }
                p.string()?.into_string()?;
            } else {
                p.skip(depth + 1)?;
            }
            array
                .push(item - start..p.pos - start, false)
                .ok_or(Fallback)
        })?;
        array.set_text(self.slice(start, self.pos)?);
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
            let text: &'static str = Box::leak(text.into_boxed_str());
            let (value, raw) = load_data(text).ok_or_else(|| TestCaseError::fail("loader refused"))?;
            let ours = PolicyData::compile_parts(value, raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let whole = PolicyData::compile_owned(serde(text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?)
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

    #[test]
    fn nesting_beyond_the_limit_is_left_to_serde_json() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nest(MAX_DEPTH)).is_some());
        assert!(parse(&nest(MAX_DEPTH + 1)).is_none());
        let skipped = format!(r#"{{"unread": {}}}"#, nest(MAX_DEPTH));
        assert!(load_data(Box::leak(skipped.into_boxed_str())).is_none());
        let listed = format!(r#"{{"admin_clients": {}}}"#, nest(MAX_DEPTH - 1));
        assert!(load_data(Box::leak(listed.into_boxed_str())).is_some());
    }

    #[test]
    fn a_later_duplicate_replaces_a_list_kept_as_text() {
        let text = r#"{"admin_clients": ["c1"], "admin_clients": "c1",
            "emails": {"banned_addresses": {"literals": ["a@x"]}},
            "emails": {"banned_addresses": {"suffixes": "@x"}}}"#;
        let (value, raw) = load_data(text).unwrap_or_else(|| unreachable!("valid"));
        assert!(raw.get(ListSlot::ADMIN_CLIENTS).is_none());
        assert_eq!(value["admin_clients"], json!("c1"));
        assert!((0..LIST_KEYS.len()).all(|k| raw.get(ListSlot::constraint_list(4, k)).is_none()));
        let text = r#"{"admin_clients": "c1", "admin_clients": ["c2"]}"#;
        let (value, raw) = load_data(text).unwrap_or_else(|| unreachable!("valid"));
        assert!(raw.get(ListSlot::ADMIN_CLIENTS).is_some());
        assert_eq!(value.get("admin_clients"), None);
    }
}
