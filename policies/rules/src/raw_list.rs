//! Lists the OPA loader keeps as JSON text instead of building values for them.
//!
//! MAS loads the whole data document into `policy.wasm` on every request, and ban lists are
//! its bulk: 100,000 short strings are a megabyte of text, but three or four megabytes of
//! `serde_json::Value`s, strings and vector growth in a fresh linear memory, where every 4 KiB
//! page first written costs a page fault. [`crate::json_parse::load_data`] therefore validates
//! those arrays and keeps them as text ([`RawArray`]) with the place of each element (one byte
//! per element in the common case, `Places`); a rule that reads one compares each plain
//! string in place, and only turns an element into a value when it is not a plain string (an
//! escaped string, a number, an object).
//!
//! The lists that may be kept as text are the five constraint objects' four lists and
//! `admin_clients` ([`ListSlot`]). Everything else is read through the document.

use serde_json::Value;

use crate::{
    constraint::CONSTRAINTS,
    value::{compare, iter, parse_limited},
};

/// The list keys of a constraint object that are read only by iteration.
pub const LIST_KEYS: [&str; 4] = ["literals", "substrings", "prefixes", "suffixes"];

/// The number of lists that may be kept as text: four per constraint, and `admin_clients`.
pub const SLOTS: usize = CONSTRAINTS.len() * LIST_KEYS.len() + 1;

/// Which list a [`RawArray`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSlot(usize);

impl ListSlot {
    /// `data.admin_clients`.
    pub const ADMIN_CLIENTS: ListSlot = ListSlot(SLOTS - 1);

    /// The list `LIST_KEYS[key]` of constraint `CONSTRAINTS[constraint]`.
    pub(crate) fn constraint_list(constraint: usize, key: usize) -> ListSlot {
        ListSlot(constraint * LIST_KEYS.len() + key)
    }

    /// The slots of constraint `CONSTRAINTS[constraint]`'s lists.
    pub(crate) fn of_constraint(constraint: usize) -> std::ops::Range<usize> {
        let first = constraint * LIST_KEYS.len();
        first..first + LIST_KEYS.len()
    }
}

/// A JSON array, validated by the loader, kept as its text (`[` to `]`) and the place of each
/// element in it, so that reading it takes no second scan of the text.
#[derive(Debug, Clone)]
pub struct RawArray {
    text: &'static str,
    places: Places,
}

/// Where an element sits in its array's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    /// The length; [`JSON`] set when the element is not a plain string.
    len: u32,
}

/// The bit of [`Span::len`] that marks an element that is not a plain string: its span is then
/// its whole JSON text, and otherwise the string's contents without the quotes.
const JSON: u32 = 1 << 31;

impl Span {
    /// Where the next element's contents start if the array is written without whitespace:
    /// after `","` for a plain string, after `,"` for any other value.
    fn next_start(self) -> u32 {
        let gap = if self.len & JSON == 0 { 3 } else { 2 };
        self.start
            .saturating_add(self.len & !JSON)
            .saturating_add(gap)
    }
}

/// [`Span::next_start`] of a compact plain string: one addition, so that reading a long list
/// is not a chain of saturating ones. The loader and the reader both use it, so they agree
/// even where it would wrap (a text near 4 GiB).
fn after_compact(start: u32, len: u8) -> u32 {
    start.wrapping_add(u32::from(len) + 3)
}

/// The first byte of a place written in full.
const WIDE: u8 = u8::MAX;

/// Where the first element's contents start in a compact array's text (`["`).
const FIRST_START: u32 = 2;

/// The places of an array's elements, in order: one byte each in the common case.
///
/// Hosts write the data document without whitespace (opa-wasm and MAS serialise it with
/// `serde_json`), so in a ban list each plain string starts where the previous one's place
/// says the next would ([`Span::next_start`]), and only its length is new. Such an element
/// takes one byte, its length, when that is below [`WIDE`]; any other takes [`WIDE`] and its
/// start and length in full (nine bytes). For 100,000 short strings that is 100 KB of places
/// instead of 800 KB, each 4 KiB of which is a page fault in a fresh linear memory.
#[derive(Debug, Clone)]
struct Places {
    bytes: Vec<u8>,
    /// Where the next element starts if it is compact.
    next: u32,
    /// Whether some element is not a plain string.
    json: bool,
}

impl Places {
    fn new() -> Self {
        Places {
            bytes: Vec::new(),
            next: FIRST_START,
            json: false,
        }
    }

    /// Inlined into the loader's element loop, with the rare wide place out of line.
    #[inline]
    fn push(&mut self, span: Span) {
        match u8::try_from(span.len) {
            Ok(len) if len != WIDE && span.start == self.next => {
                self.bytes.push(len);
                self.next = after_compact(span.start, len);
            }
            _ => self.push_wide(span),
        }
    }

    #[cold]
    #[inline(never)]
    fn push_wide(&mut self, span: Span) {
        self.bytes.push(WIDE);
        self.bytes.extend_from_slice(&span.start.to_le_bytes());
        self.bytes.extend_from_slice(&span.len.to_le_bytes());
        self.json |= span.len & JSON != 0;
        self.next = span.next_start();
    }

    fn iter(&self) -> Spans<'_> {
        Spans {
            bytes: &self.bytes,
            next: FIRST_START,
        }
    }
}

/// The spans [`Places`] holds, decoded in order.
struct Spans<'a> {
    bytes: &'a [u8],
    next: u32,
}

impl Iterator for Spans<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        let (&first, rest) = self.bytes.split_first()?;
        let span = if first == WIDE {
            let (start, rest) = rest.split_first_chunk()?;
            let (len, rest) = rest.split_first_chunk()?;
            self.bytes = rest;
            let span = Span {
                start: u32::from_le_bytes(*start),
                len: u32::from_le_bytes(*len),
            };
            self.next = span.next_start();
            span
        } else {
            self.bytes = rest;
            let start = self.next;
            self.next = after_compact(start, first);
            Span {
                start,
                len: u32::from(first),
            }
        };
        Some(span)
    }
}

impl RawArray {
    /// An array whose text is `text`; the loader adds its elements with [`RawArray::push`].
    pub(crate) fn new(text: &'static str) -> Self {
        RawArray {
            text,
            places: Places::new(),
        }
    }

    /// Records the element at `range` of the text: a plain string's contents, or any other
    /// value's JSON text. `None` when the text is too large to index (2 GiB).
    #[inline]
    pub(crate) fn push(&mut self, range: std::ops::Range<usize>, plain: bool) -> Option<()> {
        let start = u32::try_from(range.start).ok()?;
        let len = u32::try_from(range.len())
            .ok()
            .filter(|len| len & JSON == 0)?;
        self.places.push(Span {
            start,
            len: if plain { len } else { len | JSON },
        });
        Some(())
    }

    /// Sets the text once the loader knows where the array ends; the spans are relative to
    /// its start.
    pub(crate) fn set_text(&mut self, text: &'static str) {
        self.text = text;
    }

    /// The elements, in order.
    pub fn items(&self) -> impl Iterator<Item = RawItem> + '_ {
        self.places.iter().filter_map(|span| {
            let start = span.start as usize;
            let text = self.text.get(start..start + (span.len & !JSON) as usize)?;
            Some(if span.len & JSON == 0 {
                RawItem::Plain(text)
            } else {
                RawItem::Json(text)
            })
        })
    }

    /// Whether some element is the plain string `s`.
    fn has_plain(&self, s: &str) -> bool {
        let len = u32::try_from(s.len()).unwrap_or(JSON);
        self.places.iter().any(|span| {
            span.len == len && {
                let start = span.start as usize;
                self.text.as_bytes().get(start..start + s.len()) == Some(s.as_bytes())
            }
        })
    }

    fn has_json_items(&self) -> bool {
        self.places.json
    }
}

/// An element of a [`RawArray`].
#[derive(Debug, Clone, Copy)]
pub enum RawItem {
    /// A string without escapes, as it appears between its quotes.
    Plain(&'static str),
    /// Any other value, as its JSON text.
    Json(&'static str),
}

impl RawItem {
    /// The element as a value, for the rare element that is not a plain string.
    fn to_value(self) -> Value {
        match self {
            RawItem::Plain(s) => Value::String(s.to_owned()),
            // The loader validated this text; should it not parse, the element matches nothing.
            RawItem::Json(text) => {
                parse_limited(text.as_bytes(), "list item").unwrap_or(Value::Null)
            }
        }
    }

    /// The element's string, when it is one.
    fn with_str<R>(self, f: impl FnOnce(&str) -> R) -> Option<R> {
        match self {
            RawItem::Plain(s) => Some(f(s)),
            RawItem::Json(text) if text.starts_with('"') => match self.to_value() {
                Value::String(s) => Some(f(&s)),
                _ => None,
            },
            RawItem::Json(_) => None,
        }
    }
}

/// A list the rules read: from the document, or kept as text by the loader.
#[derive(Clone, Copy)]
pub enum List<'a> {
    /// The value at the list's key, read as Rego iterates it (absent iterates nothing).
    InDocument(Option<&'a Value>),
    /// The array the loader kept as text.
    Text(&'a RawArray),
}

impl<'a> List<'a> {
    /// The list the loader kept as text, when it kept one, else the value in the document.
    pub fn new(kept: Option<&'a RawArray>, in_document: Option<&'a Value>) -> Self {
        kept.map_or(List::InDocument(in_document), List::Text)
    }

    /// Whether some element equals `v` (numbers compare by value).
    pub fn contains(self, v: &Value) -> bool {
        match self {
            List::InDocument(list) => iter(list).any(|l| compare(v, l).is_eq()),
            List::Text(raw) => {
                // Plain strings are compared in place; a plain string never equals a value of
                // another type, and only the rare other elements are turned into values.
                matches!(v, Value::String(s) if raw.has_plain(s))
                    || raw.has_json_items()
                        && raw.items().any(|item| match item {
                            RawItem::Plain(_) => false,
                            RawItem::Json(_) => compare(v, &item.to_value()).is_eq(),
                        })
            }
        }
    }

    /// Whether `pred` holds for some element that is a string.
    pub fn any_str(self, mut pred: impl FnMut(&str) -> bool) -> bool {
        match self {
            List::InDocument(list) => iter(list).filter_map(Value::as_str).any(pred),
            List::Text(raw) => raw
                .items()
                .any(|item| item.with_str(&mut pred).unwrap_or(false)),
        }
    }
}

/// The arrays the loader kept as text, by [`ListSlot`].
#[derive(Debug, Clone, Default)]
pub struct RawLists([Option<RawArray>; SLOTS]);

impl RawLists {
    /// The array kept for `slot`, if any.
    pub fn get(&self, slot: ListSlot) -> Option<&RawArray> {
        self.0[slot.0].as_ref()
    }

    /// Takes the array kept for `slot` out.
    pub(crate) fn take(&mut self, slot: ListSlot) -> Option<RawArray> {
        self.0[slot.0].take()
    }

    pub(crate) fn set(&mut self, slot: ListSlot, array: Option<RawArray>) {
        self.0[slot.0] = array;
    }

    pub(crate) fn clear(&mut self, slots: std::ops::Range<usize>) {
        for slot in &mut self.0[slots] {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the spans, compact or not, the places give them back in order.
        #[test]
        fn places_give_back_every_span(
            steps in prop::collection::vec((0_u32..4, 0_u32..300, any::<bool>()), 0..64),
        ) {
            let mut places = Places::new();
            let mut spans = Vec::new();
            let mut next = FIRST_START;
            for (gap, len, plain) in steps {
                // Mostly where a compact array puts the next element, sometimes elsewhere.
                let start = if gap == 0 { next + 1 } else { next };
                let span = Span { start, len: if plain { len } else { len | JSON } };
                places.push(span);
                spans.push(span);
                next = span.next_start();
            }
            prop_assert_eq!(places.iter().collect::<Vec<_>>(), spans.clone());
            prop_assert_eq!(places.json, spans.iter().any(|s| s.len & JSON != 0));
        }
    }

    #[test]
    fn a_compact_list_of_short_strings_takes_a_byte_an_element() {
        let mut array = RawArray::new("");
        let names = ["zz00042", "", "a", &"x".repeat(254)];
        let mut at = 1;
        for name in names {
            array.push(at + 1..at + 1 + name.len(), true);
            at += name.len() + 3;
        }
        let text = format!("[{}]", names.map(|n| format!("\"{n}\"")).join(","));
        array.set_text(Box::leak(text.into_boxed_str()));
        assert_eq!(array.places.bytes.len(), names.len());
        let items: Vec<_> = array
            .items()
            .map(|item| match item {
                RawItem::Plain(s) => s,
                RawItem::Json(_) => unreachable!("all plain"),
            })
            .collect();
        assert_eq!(items, names);
        // A longer string, a space, or an element that is not a plain string is written in full.
        let text = r#"[ "a",5,"b"]"#;
        let mut array = RawArray::new(text);
        array.push(3..4, true);
        array.push(6..7, false);
        array.push(9..10, true);
        assert_eq!(array.places.bytes.len(), 9 + 9 + 1);
        assert!(array.has_json_items() && array.has_plain("b") && !array.has_plain("5"));
    }
}
