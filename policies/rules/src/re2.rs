//! Data regexes with RE2/Go meaning (decision D7), compiled by the Rust `regex` crate.
//!
//! OPA evaluates `regex.match` with Go's `regexp`. Patterns run here on `regex-lite`, whose
//! dialect differs in small ways: its `\s` includes `\v`, it reads `\<`/`\>` as word boundaries,
//! has no octal escapes and accepts flags Go refuses (`x`, `R`). Rather than hope the two
//! dialects agree, patterns are translated token by token into regex-lite syntax with the Go
//! meaning, and anything Go rejects (or that we cannot express) is a load error.
//!
//! `policy.wasm` may declare at most two 64 KiB pages of memory (contract §13.1), which rules
//! out the regex crate's Unicode tables. So:
//! - `(?i)` is applied here: each cased letter becomes a class of its case variants (ASCII
//!   exactly; other letters through their single-character upper and lower case, which covers
//!   simple case folding except a few three-member orbits such as `k`/`K`/Kelvin sign).
//! - Unicode classes (`\pL`, `\p{Greek}`) are rejected at load with a clear error.

use std::fmt::Write as _;

use regex_lite::{Regex, RegexBuilder};

use crate::simple_regex::Chain;

/// Go's limit on `{n,m}` repeat counts.
const MAX_REPEAT: u32 = 1000;

/// A compiled data regex with RE2 semantics.
#[derive(Debug, Clone)]
pub struct Re2(Matcher);

#[derive(Debug, Clone)]
enum Matcher {
    /// A chain of characters and classes, matched without regex-lite ([`Chain`]).
    Chain(Chain),
    /// Anything else.
    Lite(Regex),
}

impl Re2 {
    /// Compiles an RE2 pattern.
    ///
    /// # Errors
    ///
    /// Returns a lowercase one-line reason when Go would reject the pattern, or when it uses a
    /// construct this build cannot express.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let translated = translate(pattern)?;
        if let Some(chain) = Chain::parse(&translated) {
            return Ok(Re2(Matcher::Chain(chain)));
        }
        compile_rust(&translated).map(|re| Re2(Matcher::Lite(re)))
    }

    /// `regex.match`: true when the pattern matches anywhere in `s`.
    pub fn is_match(&self, s: &str) -> bool {
        match &self.0 {
            Matcher::Chain(chain) => chain.is_match(s),
            Matcher::Lite(re) => is_match_fresh(re, s),
        }
    }

    /// Whether this pattern is matched without regex-lite.
    #[cfg(test)]
    pub(crate) fn is_simple(&self) -> bool {
        matches!(self.0, Matcher::Chain(_))
    }

    /// [`Re2::new`], always through regex-lite: the oracle for [`Chain`].
    #[cfg(test)]
    pub(crate) fn through_regex_lite(pattern: &str) -> Result<Self, String> {
        compile_rust(&translate(pattern)?).map(|re| Re2(Matcher::Lite(re)))
    }
}

/// Matches with search state that lives only for this call.
///
/// A compiled regex keeps a pool of scratch caches that it fills and grows on first use. In
/// `policy.wasm` the compiled data sits below the host's saved heap pointer while everything an
/// evaluation allocates sits above it and is overwritten by the next evaluation, so a cache
/// created during one evaluation would be a dangling pointer in the next. A clone shares the
/// compiled program (an `Arc`) but brings its own empty pool, which dies with this call.
pub(crate) fn is_match_fresh(re: &Regex, s: &str) -> bool {
    re.clone().is_match(s)
}

/// Compiles Rust-syntax regex text, reducing the crate's multi-line error to its last line.
pub(crate) fn compile_rust(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .build()
        .map_err(|err| one_line_reason(&err.to_string()))
}

fn one_line_reason(message: &str) -> String {
    message
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .unwrap_or_else(|| message.lines().last().unwrap_or("invalid regex"))
        .trim()
        // regex-lite's messages are static ASCII text.
        .to_ascii_lowercase()
}

/// Go's Perl classes, as inclusive code point ranges.
type Ranges = &'static [(u32, u32)];
const DIGIT: Ranges = &[(0x30, 0x39)];
const WORD: Ranges = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];
/// `[\t\n\f\r ]`: unlike regex-lite's `\s`, no `\v`.
const SPACE: Ranges = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];

/// Translates an RE2 pattern into Rust regex syntax with the same meaning.
fn translate(pattern: &str) -> Result<String, String> {
    let mut t = Translator {
        chars: pattern.chars().collect(),
        pos: 0,
        out: String::with_capacity(pattern.len() + 16),
        fold: false,
        groups: Vec::new(),
    };
    t.run()?;
    Ok(t.out)
}

struct Translator {
    chars: Vec<char>,
    pos: usize,
    out: String,
    /// Whether `(?i)` is in force at the cursor.
    fold: bool,
    /// The `fold` state to restore at each open group's `)`.
    groups: Vec<bool>,
}

include!(concat!(env!("OUT_DIR"), "/case_runs.rs"));

/// The single-character lower and upper case offsets of `c` (0 for none), as
/// `char::to_lowercase`/`to_uppercase` give them; non-ASCII through the generated
/// [`case_run_offsets`].
fn case_offsets(c: char) -> (i32, i32) {
    if c.is_ascii_uppercase() {
        (32, 0)
    } else if c.is_ascii_lowercase() {
        (0, -32)
    } else {
        case_run_offsets(c as u32)
    }
}

/// The case variants of `c`, itself first; a single element when it has none.
fn case_variants(c: char) -> Vec<char> {
    let mut variants = vec![c];
    let (lower, upper) = case_offsets(c);
    for offset in [lower, upper] {
        let v = (c as u32)
            .checked_add_signed(offset)
            .and_then(char::from_u32);
        if let Some(v) = v
            && offset != 0
            && !variants.contains(&v)
        {
            variants.push(v);
        }
    }
    variants
}

impl Translator {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Emits a literal character, as a class of its case variants under `(?i)`.
    fn push_literal(&mut self, c: char) {
        let variants = if self.fold { case_variants(c) } else { vec![c] };
        if let [only] = variants[..] {
            let mut buf = [0u8; 4];
            self.out
                .push_str(&regex_lite::escape(only.encode_utf8(&mut buf)));
        } else {
            self.out.push('[');
            for v in variants {
                self.push_class_char(v);
            }
            self.out.push(']');
        }
    }

    fn run(&mut self) -> Result<(), String> {
        // Go refuses stacked repetition (`a**`, `a*+`, `a+?*`), which Rust would accept.
        let mut after_repeat = false;
        while let Some(c) = self.next() {
            let is_repeat = match c {
                '\\' => {
                    self.escape_outside()?;
                    false
                }
                '[' => {
                    self.class()?;
                    false
                }
                '(' => {
                    self.group_open()?;
                    false
                }
                ')' => {
                    self.fold = self.groups.pop().unwrap_or(self.fold);
                    self.out.push(')');
                    false
                }
                '{' => self.repeat_or_literal()?,
                '*' | '+' | '?' => {
                    self.out.push(c);
                    true
                }
                c if c.is_alphanumeric() => {
                    self.push_literal(c);
                    false
                }
                _ => {
                    self.out.push(c);
                    false
                }
            };
            if is_repeat {
                if after_repeat {
                    return Err("invalid nested repetition operator".to_owned());
                }
                if self.peek() == Some('?') {
                    self.pos += 1;
                    self.out.push('?');
                }
            }
            after_repeat = is_repeat;
        }
        Ok(())
    }

    /// `(?flags)` and `(?flags:` accept only Go's flags; named groups pass through. The `i`
    /// flag is tracked here rather than passed on (see the module docs).
    fn group_open(&mut self) -> Result<(), String> {
        if self.peek() != Some('?') || matches!(self.peek_at(1), Some('P' | '<' | ':')) {
            self.groups.push(self.fold);
            self.out.push('(');
            return Ok(());
        }
        self.pos += 1;
        let mut flags = String::new();
        let mut negated = false;
        let mut fold = self.fold;
        loop {
            let Some(c) = self.next() else {
                return Err("missing closing )".to_owned());
            };
            match c {
                'i' => fold = !negated,
                'm' | 's' | 'U' => flags.push(c),
                '-' if !negated => {
                    negated = true;
                    flags.push(c);
                }
                ')' | ':' => {
                    let flags = flags.trim_end_matches('-');
                    if c == ':' {
                        self.groups.push(self.fold);
                        let _ = write!(self.out, "(?{flags}:");
                    } else if !flags.is_empty() {
                        let _ = write!(self.out, "(?{flags})");
                    }
                    self.fold = fold;
                    return Ok(());
                }
                _ => return Err(format!("invalid or unsupported perl syntax: `(?{c}`")),
            }
        }
    }

    /// Go reads `{` as a literal unless it starts a valid `{n}`, `{n,}` or `{n,m}`; returns
    /// whether it was a repetition.
    fn repeat_or_literal(&mut self) -> Result<bool, String> {
        let rest: String = self.chars[self.pos..].iter().take(24).collect();
        let Some(end) = rest.find('}') else {
            self.out.push_str(r"\{");
            return Ok(false);
        };
        let body = &rest[..end];
        let (min, max) = match body.split_once(',') {
            Some((min, max)) => (min, Some(max)),
            None => (body, None),
        };
        let number = |s: &str| -> Option<u32> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().unwrap_or(u32::MAX))
        };
        let Some(lo) = number(min) else {
            self.out.push_str(r"\{");
            return Ok(false);
        };
        let hi = match max {
            None => Some(lo),
            Some("") => None,
            Some(max) => {
                let Some(hi) = number(max) else {
                    self.out.push_str(r"\{");
                    return Ok(false);
                };
                Some(hi)
            }
        };
        if lo > MAX_REPEAT || hi.is_some_and(|hi| hi > MAX_REPEAT || hi < lo) {
            return Err(format!("invalid repeat count: `{{{body}}}`"));
        }
        self.out.push('{');
        self.out.push_str(body);
        self.out.push('}');
        self.pos += body.chars().count() + 1;
        Ok(true)
    }

    fn escape_outside(&mut self) -> Result<(), String> {
        let Some(c) = self.next() else {
            return Err("trailing backslash at end of expression".to_owned());
        };
        match c {
            'd' => write_class(&mut self.out, DIGIT, false),
            'D' => write_class(&mut self.out, DIGIT, true),
            'w' => write_class(&mut self.out, WORD, false),
            'W' => write_class(&mut self.out, WORD, true),
            's' => write_class(&mut self.out, SPACE, false),
            'S' => write_class(&mut self.out, SPACE, true),
            // regex-lite's word boundaries are ASCII, as Go's are.
            'b' => self.out.push_str(r"\b"),
            'B' => self.out.push_str(r"\B"),
            'A' | 'z' => {
                self.out.push('\\');
                self.out.push(c);
            }
            'Q' => {
                while let Some(c) = self.next() {
                    if c == '\\' && self.peek() == Some('E') {
                        self.pos += 1;
                        break;
                    }
                    self.push_literal(c);
                }
            }
            _ => self.common_escape(c)?,
        }
        Ok(())
    }

    /// Escapes outside a class that are not Perl classes or anchors.
    fn common_escape(&mut self, c: char) -> Result<(), String> {
        match c {
            'a' | 'f' | 't' | 'n' | 'r' | 'v' => {
                self.out.push('\\');
                self.out.push(c);
            }
            'x' | '0'..='7' => {
                let ch = self.numeric_escape(c)?;
                self.push_literal(ch);
            }
            'p' | 'P' => return Err(unicode_class_error(c)),
            c if c.is_ascii_punctuation() => self.push_literal(c),
            c => return Err(format!("invalid escape sequence: `\\{c}`")),
        }
        Ok(())
    }

    /// `\x41`, `\x{10FFFF}` and Go's octal `\0`, `\012`; a lone `\1`–`\7` would be a
    /// backreference, which RE2 does not support.
    fn numeric_escape(&mut self, c: char) -> Result<char, String> {
        let value = if c == 'x' {
            self.hex_digits()?
        } else {
            let mut value = c.to_digit(8).unwrap_or(0);
            let mut digits = 1;
            while digits < 3 {
                match self.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        value = value * 8 + d;
                        digits += 1;
                        self.pos += 1;
                    }
                    None => break,
                }
            }
            if c != '0' && digits == 1 {
                return Err(format!("invalid escape sequence: `\\{c}`"));
            }
            value
        };
        char::from_u32(value).ok_or_else(|| format!("invalid escape sequence: `\\x{{{value:x}}}`"))
    }

    fn hex_digits(&mut self) -> Result<u32, String> {
        let mut digits = String::new();
        if self.peek() == Some('{') {
            self.pos += 1;
            loop {
                match self.next() {
                    Some('}') if !digits.is_empty() => break,
                    Some(d) if d.is_ascii_hexdigit() && digits.len() < 8 => digits.push(d),
                    _ => return Err("invalid escape sequence: `\\x{`".to_owned()),
                }
            }
        } else {
            for _ in 0..2 {
                match self.next() {
                    Some(d) if d.is_ascii_hexdigit() => digits.push(d),
                    _ => return Err("invalid escape sequence: `\\x`".to_owned()),
                }
            }
        }
        u32::from_str_radix(&digits, 16).map_err(|_| "invalid escape sequence: `\\x`".to_owned())
    }

    /// A bracket class. Go has no nested classes or set operators, so `[`, `&`, `~` and a
    /// range-less `-` are plain characters and are escaped for Rust.
    fn class(&mut self) -> Result<(), String> {
        self.out.push('[');
        if self.peek() == Some('^') {
            self.pos += 1;
            self.out.push('^');
        }
        let mut first = true;
        loop {
            let Some(c) = self.next() else {
                return Err("missing closing ]".to_owned());
            };
            if c == ']' && !first {
                self.out.push(']');
                return Ok(());
            }
            first = false;
            if c == '['
                && self.peek() == Some(':')
                && let Some(len) = self.posix_class_len()
            {
                let name: String = self.chars[self.pos..self.pos + len].iter().collect();
                self.pos += len;
                // Under `(?i)` Go folds `[:lower:]` and `[:upper:]` into all letters.
                let name = match name.as_str() {
                    ":lower:]" | ":upper:]" if self.fold => ":alpha:]",
                    ":^lower:]" | ":^upper:]" if self.fold => ":^alpha:]",
                    other => other,
                };
                self.out.push('[');
                self.out.push_str(name);
                continue;
            }
            let lo = if c == '\\' {
                match self.class_escape()? {
                    Some(lo) => lo,
                    None => continue,
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|n| n != ']') {
                self.pos += 1;
                let hi = match self.next() {
                    Some('\\') => self
                        .class_escape()?
                        .ok_or_else(|| "invalid character class range".to_owned())?,
                    Some(hi) => hi,
                    None => return Err("missing closing ]".to_owned()),
                };
                if hi < lo {
                    return Err(format!("invalid character class range: `{lo}-{hi}`"));
                }
                self.push_class_char(lo);
                self.out.push('-');
                self.push_class_char(hi);
                if self.fold {
                    self.push_range_variants(lo, hi);
                }
            } else if self.fold {
                for v in case_variants(lo) {
                    self.push_class_char(v);
                }
            } else {
                self.push_class_char(lo);
            }
        }
    }

    const POSIX_CLASSES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];

    /// Length (after the `[`) of a `[:name:]` POSIX class starting at the cursor, if any.
    fn posix_class_len(&self) -> Option<usize> {
        let rest: String = self.chars[self.pos..].iter().take(12).collect();
        let end = rest.find(":]")?;
        let name = rest.get(1..end)?.trim_start_matches('^');
        Self::POSIX_CLASSES
            .contains(&name)
            .then(|| rest[..end + 2].chars().count())
    }

    /// An escape inside a class: a Perl class is written out (returns `None`), anything else
    /// yields the character it stands for.
    fn class_escape(&mut self) -> Result<Option<char>, String> {
        let Some(c) = self.next() else {
            return Err("missing closing ]".to_owned());
        };
        let perl = match c {
            'd' => Some((DIGIT, false)),
            'D' => Some((DIGIT, true)),
            'w' => Some((WORD, false)),
            'W' => Some((WORD, true)),
            's' => Some((SPACE, false)),
            'S' => Some((SPACE, true)),
            _ => None,
        };
        if let Some((set, negated)) = perl {
            // regex-lite has no nested classes, so a negated Perl class inside a class is
            // written out as its complement ranges.
            if negated {
                write_ranges(&mut self.out, &complement(set));
            } else {
                write_ranges(&mut self.out, set);
            }
            return Ok(None);
        }
        let literal = match c {
            'a' => '\u{7}',
            'f' => '\u{c}',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\u{b}',
            'x' | '0'..='7' => self.numeric_escape(c)?,
            c if c.is_ascii_punctuation() => c,
            'p' | 'P' => return Err(unicode_class_error(c)),
            c => return Err(format!("invalid escape sequence: `\\{c}`")),
        };
        Ok(Some(literal))
    }

    /// Adds the case variants of a class range under `(?i)`: ASCII letters exactly, other
    /// ranges character by character when they are small enough to enumerate.
    fn push_range_variants(&mut self, lo: char, hi: char) {
        for (a, z, shift) in [('a', 'z', -32i32), ('A', 'Z', 32)] {
            let (from, to) = (lo.max(a), hi.min(z));
            if from <= to {
                let moved = |c: char| char::from_u32(u32::from(c).wrapping_add_signed(shift));
                if let (Some(from), Some(to)) = (moved(from), moved(to)) {
                    self.push_class_char(from);
                    self.out.push('-');
                    self.push_class_char(to);
                }
            }
        }
        let (lo, hi) = (u32::from(lo).max(0x80), u32::from(hi));
        if lo <= hi && hi - lo <= 1024 {
            for c in (lo..=hi).filter_map(char::from_u32) {
                for v in case_variants(c).into_iter().skip(1) {
                    self.push_class_char(v);
                }
            }
        }
    }

    fn push_class_char(&mut self, c: char) {
        if c.is_ascii_punctuation() || c.is_ascii_whitespace() {
            let _ = write!(self.out, r"\x{{{:x}}}", u32::from(c));
        } else {
            self.out.push(c);
        }
    }
}

fn unicode_class_error(c: char) -> String {
    format!("unicode classes (`\\{c}`) are not supported by this policy build")
}

/// Writes ranges as the inside of a class.
fn write_ranges(out: &mut String, ranges: &[(u32, u32)]) {
    for &(lo, hi) in ranges {
        if lo == hi {
            let _ = write!(out, r"\x{{{lo:x}}}");
        } else {
            let _ = write!(out, r"\x{{{lo:x}}}-\x{{{hi:x}}}");
        }
    }
}

/// The complement of sorted, disjoint ranges over all code points.
fn complement(ranges: Ranges) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    out.push((next, 0x10_ffff));
    out
}

/// Writes a Perl class as a standalone class.
fn write_class(out: &mut String, set: Ranges, negated: bool) {
    out.push('[');
    if negated {
        out.push('^');
    }
    write_ranges(out, set);
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Re2::new(p).unwrap().is_match(s)
    }

    /// The generated table gives, for every character, the variants the standard library's
    /// case mappings give.
    #[test]
    fn case_variants_match_the_standard_library_for_every_character() {
        fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
            let first = it.next()?;
            it.next().is_none().then_some(first)
        }
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let mut expected = vec![c];
            for v in [single(c.to_lowercase()), single(c.to_uppercase())]
                .into_iter()
                .flatten()
            {
                if !expected.contains(&v) {
                    expected.push(v);
                }
            }
            assert_eq!(case_variants(c), expected, "{c:?}");
        }
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d+$", "١٢٣"));
        assert!(!m(r"^\w+$", "héllo"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"^[\d\s]+$", "1 2\t3"));
        assert!(m(r"^[^\D]+$", "42"));
        assert!(m(r"^\S+$", "é"));
        assert!(m(r"\bfoo\b", "a foo b"));
        assert!(m(r"\bfoo", "éfoo"));
    }

    #[test]
    fn anchors_follow_go() {
        assert!(!m("^[a-z]+$", "hello\n"));
        assert!(m("ell", "hello"));
        assert!(m("(?i)HELLO", "hello"));
        assert!(m("(?i:[a-c]x)y", "BXy"));
        assert!(!m("(?i:a)b", "aB"));
        assert!(m("a(?i)b(?-i)c", "aBc"));
        assert!(!m("a(?i)b(?-i)c", "aBC"));
        assert!(m("(?i)é", "É"));
        assert!(m("(?i)[é-ê]", "Ê"));
        assert!(m("(?i)[[:lower:]]", "Q"));
        assert!(m("(?i)[^a]", "b"));
        assert!(!m("(?i)[^a]", "A"));
        assert!(m(r"(?i)\x41", "a"));
        assert!(m("(?im)^B$", "a\nb"));
        assert!(m("(?s:.)", "\n"));
        assert!(m(r"\Ahi\z", "hi"));
    }

    #[test]
    fn class_set_operators_are_plain_characters() {
        assert!(m("^[a&&b]+$", "a&b"));
        assert!(m("^[a~~]+$", "~"));
        assert!(m("^[[a]+$", "[a"));
        assert!(m("^[a-]+$", "a-"));
        assert!(m(r"^[\-x]+$", "-x"));
        assert!(m("^[[:digit:]]+$", "12"));
        assert!(m("^[[:^digit:]]+$", "ab"));
        assert!(m(r"^[\W\d]+$", "é1-"));
        assert!(!m(r"^[\W\d]+$", "a"));
        assert!(!m(r"^\s$", "\u{b}"));
    }

    #[test]
    fn go_literals_and_octal() {
        assert!(m(r"\<a\>", "<a>"));
        assert!(m(r"a{,2}", "a{,2}"));
        assert!(m(r"x{", "x{"));
        assert!(m(r"\101", "A"));
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"\Qa.b\E", "axb"));
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        for p in [
            "(", "[a", r"\1", "a{1001}", "a{2,1}", "(?x)a", r"\pL", r"\", "*a", "a**", "a*?+",
            "a{2}*",
        ] {
            assert!(Re2::new(p).is_err(), "{p} must be rejected");
        }
        assert!(Re2::new("a{1000}").is_ok());
        assert!(Re2::new("a*?b+?c??").is_ok());
        let err = Re2::new("(ab").unwrap_err();
        assert!(!err.contains('\n'), "{err}");
    }
}
