//! Domain globs, as OPA's `glob.match(pattern, ["."], domain)` reads them (contract §6.3).
//!
//! A glob is translated once, at data load, into an anchored regex. The translation keeps
//! upstream's quirk: `(`, `)` and `$` reach the regex engine unescaped, so balanced parentheses
//! group, `$` anchors, and an unbalanced parenthesis makes a pattern that never matches.
//! Malformed globs are not load errors (upstream never rejects them); they never match.
//!
//! Most globs in real data are literals with `*`, `**` and `?` (`*.spam.example`). Those are
//! matched directly instead (`Wildcard`): compiling a regex costs microseconds and a few
//! KiB of memory on every data load, which `policy.wasm` pays on every request. A test checks
//! both paths agree on generated globs and domains.

use std::fmt::Write as _;

use regex_lite::Regex;

use crate::re2::{compile_rust, is_match_fresh};

/// A compiled domain glob.
#[derive(Debug, Clone)]
pub struct Glob(Matcher);

#[derive(Debug, Clone)]
enum Matcher {
    /// Malformed, or not a string: matches nothing.
    Never,
    /// Literals and wildcards only, kept as written (a ban list of globs stays its own size).
    Wildcards(Box<str>),
    /// Anything else, through the regex translation.
    Regex(Regex),
}

/// One element of a wildcard-only glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wildcard {
    /// The character itself.
    Literal(char),
    /// `?`: one character other than the `.` delimiter (the regex `[^.]`).
    One,
    /// `*`: any run of characters other than `.` (`[^.]*`).
    Segment,
    /// `**`: any run of characters other than a newline (`[^\n]*`).
    Any,
}

impl Wildcard {
    /// Whether the glob has nothing but literals, `*`, `**` and `?`.
    fn only_wildcards(pattern: &str) -> bool {
        !pattern.contains(['[', ']', '{', '}', ',', '\\', '(', ')', '$'])
    }

    /// The element starting at byte `at` of a wildcard-only glob, and the byte after it.
    fn at(pattern: &str, at: usize) -> (Wildcard, usize) {
        let c = pattern[at..].chars().next().unwrap_or_default();
        match c {
            '*' if pattern.as_bytes().get(at + 1) == Some(&b'*') => (Wildcard::Any, at + 2),
            '*' => (Wildcard::Segment, at + 1),
            '?' => (Wildcard::One, at + 1),
            c => (Wildcard::Literal(c), at + c.len_utf8()),
        }
    }

    /// The elements of a wildcard-only glob.
    fn parse(pattern: &str) -> Vec<Wildcard> {
        let mut elements = Vec::with_capacity(pattern.len());
        let mut i = 0;
        while i < pattern.len() {
            let (w, after) = Wildcard::at(pattern, i);
            elements.push(w);
            i = after;
        }
        elements
    }

    /// How a wildcard-only glob is matched.
    fn shape(pattern: &str) -> Shape<'_> {
        if !pattern.contains(['*', '?']) {
            return Shape::Literal;
        }
        // The commonest glob in ban lists, `*.spam.example`: a run without `.`, then a literal.
        match pattern.strip_prefix('*') {
            Some(tail) if !tail.starts_with('*') && !tail.contains(['*', '?']) => {
                Shape::StarThenLiteral(tail)
            }
            _ => Shape::States,
        }
    }

    /// Whether the whole of `subject` matches. A glob matched on states has at most
    /// [`MAX_WILDCARD_ELEMENTS`] elements, and the set of reachable elements is a bit set
    /// carried along `subject`, so the time is linear in its length whatever the wildcards.
    fn is_match(pattern: &str, subject: &str) -> bool {
        let tail = match Wildcard::shape(pattern) {
            Shape::Literal => return pattern == subject,
            Shape::StarThenLiteral(tail) => tail,
            Shape::States => return Wildcard::is_match_on_states(pattern, subject),
        };
        subject
            .strip_suffix(tail)
            .is_some_and(|head| !head.contains('.'))
    }

    fn is_match_on_states(pattern: &str, subject: &str) -> bool {
        let elements = Wildcard::parse(pattern);
        let n = elements.len();
        let stars = elements
            .iter()
            .enumerate()
            .filter(|(_, w)| matches!(w, Wildcard::Segment | Wildcard::Any))
            .fold(0_u64, |set, (i, _)| set | 1 << i);
        // A star may match nothing: its successor is reachable too (in order, so runs of stars
        // are crossed in one pass).
        let close = |mut set: u64| {
            let mut pending = set & stars;
            while pending != 0 {
                let i = pending.trailing_zeros();
                set |= 1 << (i + 1);
                pending &= pending - 1;
                pending |= set & stars & !((2_u64 << i) - 1);
            }
            set
        };
        let mut now = close(1);
        for c in subject.chars() {
            let mut next = 0_u64;
            let mut active = now & ((1_u64 << n) - 1);
            while active != 0 {
                let i = active.trailing_zeros();
                active &= active - 1;
                next |= match elements[i as usize] {
                    Wildcard::Literal(l) if l == c => 1 << (i + 1),
                    Wildcard::One if c != '.' => 1 << (i + 1),
                    Wildcard::Segment if c != '.' => 1 << i,
                    Wildcard::Any if c != '\n' => 1 << i,
                    _ => 0,
                };
            }
            now = close(next);
            if now == 0 {
                return false;
            }
        }
        now & 1 << n != 0
    }
}

/// The most elements a glob matched on states may have: its states (one per element and the
/// final one) fit in a `u64`.
const MAX_WILDCARD_ELEMENTS: usize = 63;

/// How a wildcard-only glob is matched.
enum Shape<'p> {
    /// No wildcard: string equality, whatever the length.
    Literal,
    /// `*` and a literal tail: a suffix test.
    StarThenLiteral(&'p str),
    /// Anything else: states on a bit set.
    States,
}

impl Glob {
    /// Compiles `pattern`; a malformed pattern compiles to a glob that matches nothing.
    pub fn new(pattern: &str) -> Self {
        if Wildcard::only_wildcards(pattern)
            && (!matches!(Wildcard::shape(pattern), Shape::States)
                || Wildcard::parse(pattern).len() <= MAX_WILDCARD_ELEMENTS)
        {
            return Glob(Matcher::Wildcards(pattern.into()));
        }
        Self::through_regex(pattern)
    }

    fn through_regex(pattern: &str) -> Self {
        let regex = translate(pattern).and_then(|text| compile_rust(&text).ok());
        Glob(regex.map_or(Matcher::Never, Matcher::Regex))
    }

    /// Compiles `pattern`, or `None` when it is malformed. Upstream keys accept malformed globs
    /// (they never match), but this project's own keys refuse them at load.
    pub fn parse(pattern: &str) -> Option<Self> {
        let glob = Glob::new(pattern);
        (!matches!(glob.0, Matcher::Never)).then_some(glob)
    }

    /// A glob for a non-string pattern: it matches nothing.
    pub fn never() -> Self {
        Glob(Matcher::Never)
    }

    /// True when the whole of `domain` matches.
    pub fn is_match(&self, domain: &str) -> bool {
        match &self.0 {
            Matcher::Never => false,
            Matcher::Wildcards(pattern) => Wildcard::is_match(pattern, domain),
            Matcher::Regex(re) => is_match_fresh(re, domain),
        }
    }
}

fn translate(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^(?:");
    let mut pos = 0;
    translate_seq(&chars, &mut pos, &mut out, false)?;
    if pos != chars.len() {
        return None;
    }
    out.push_str(")$");
    Some(out)
}

/// Translates until the end, or (inside `{…}`) until an unnested `,` or `}`.
fn translate_seq(chars: &[char], pos: &mut usize, out: &mut String, in_alt: bool) -> Option<()> {
    while let Some(&c) = chars.get(*pos) {
        match c {
            ',' | '}' if in_alt => return Some(()),
            '*' => {
                if chars.get(*pos + 1) == Some(&'*') {
                    out.push_str(r"[^\n]*");
                    *pos += 2;
                } else {
                    out.push_str(r"[^.]*");
                    *pos += 1;
                }
            }
            '?' => {
                out.push_str(r"[^.]");
                *pos += 1;
            }
            '[' => {
                *pos += 1;
                translate_class(chars, pos, out)?;
            }
            '{' => {
                *pos += 1;
                out.push_str("(?:");
                loop {
                    translate_seq(chars, pos, out, true)?;
                    match chars.get(*pos) {
                        Some(',') => out.push('|'),
                        Some('}') => break,
                        _ => return None,
                    }
                    *pos += 1;
                }
                *pos += 1;
                out.push(')');
            }
            '\\' => {
                let escaped = *chars.get(*pos + 1)?;
                push_literal(out, escaped);
                *pos += 2;
            }
            '(' | ')' | '$' => {
                out.push(c);
                *pos += 1;
            }
            _ => {
                push_literal(out, c);
                *pos += 1;
            }
        }
    }
    Some(())
}

fn translate_class(chars: &[char], pos: &mut usize, out: &mut String) -> Option<()> {
    out.push('[');
    if chars.get(*pos) == Some(&'!') {
        out.push('^');
        *pos += 1;
    }
    let mut items = 0;
    loop {
        let c = *chars.get(*pos)?;
        *pos += 1;
        if c == ']' {
            if items == 0 {
                return None;
            }
            out.push(']');
            return Some(());
        }
        let lo = if c == '\\' {
            let e = *chars.get(*pos)?;
            *pos += 1;
            e
        } else {
            c
        };
        items += 1;
        if chars.get(*pos) == Some(&'-') && chars.get(*pos + 1).is_some_and(|&n| n != ']') {
            let mut hi = chars[*pos + 1];
            *pos += 2;
            if hi == '\\' {
                hi = *chars.get(*pos)?;
                *pos += 1;
            }
            if hi < lo {
                return None;
            }
            push_class_char(out, lo);
            out.push('-');
            push_class_char(out, hi);
        } else {
            push_class_char(out, lo);
        }
    }
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex_lite::escape(c.encode_utf8(&mut buf)));
}

fn push_class_char(out: &mut String, c: char) {
    let _ = write!(out, r"\x{{{:x}}}", u32::from(c));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, d: &str) -> bool {
        Glob::new(p).is_match(d)
    }

    #[test]
    fn contract_examples() {
        assert!(g("*.element.io", "staging.element.io"));
        assert!(!g("*.element.io", "a.b.element.io"));
        assert!(!g("*.element.io", "element.io"));
        assert!(g("**.element.io", "a.b.element.io"));
        assert!(!g("**.element.io", "element.io"));
    }

    #[test]
    fn wildcards_classes_and_alternatives() {
        assert!(g("?.io", "a.io"));
        assert!(!g("?.io", "..io"));
        assert!(g("[abc].io", "b.io"));
        assert!(!g("[!a-z].io", "q.io"));
        assert!(g("[!a-z].io", "1.io"));
        assert!(g("[.]io", ".io"));
        assert!(g("{foo,bar}.com", "bar.com"));
        assert!(g("{foo,*.bar}.com", "x.bar.com"));
        assert!(g(r"\*.com", "*.com"));
        assert!(!g(r"\*.com", "a.com"));
        assert!(!g("Example.com", "example.com"));
    }

    #[test]
    fn upstream_regex_quirks() {
        assert!(g("(a).com", "a.com"));
        assert!(!g("(a.com", "a.com"));
        assert!(!g("a).com", "a).com"));
        assert!(g("a.com$", "a.com"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Wildcard-only globs match exactly what their regex translation matches.
        #[test]
        fn wildcards_agree_with_the_regex_translation(
            pattern in "[aλ.*?\n]{0,8}",
            domain in "[aλ.*?\n]{0,10}",
        ) {
            let direct = Glob::new(&pattern);
            proptest::prop_assert!(matches!(direct.0, Matcher::Wildcards(_)));
            proptest::prop_assert_eq!(
                direct.is_match(&domain),
                Glob::through_regex(&pattern).is_match(&domain),
                "{:?} on {:?}", pattern, domain
            );
        }

        /// The same for a star and a literal tail (matched by suffix), and for the longest
        /// globs matched without a regex.
        #[test]
        fn star_tails_and_long_globs_agree_with_the_regex_translation(
            tail in "[aλ.\n]{0,6}",
            long in "[a.*?]{60,66}",
            domain in "[aλ.\n]{0,10}",
        ) {
            for pattern in [format!("*{tail}"), format!("**{tail}")] {
                proptest::prop_assert_eq!(
                    Glob::new(&pattern).is_match(&domain),
                    Glob::through_regex(&pattern).is_match(&domain),
                    "{:?} on {:?}", pattern, domain
                );
            }
            let subject = "a.".repeat(domain.len());
            proptest::prop_assert_eq!(
                Glob::new(&long).is_match(&subject),
                Glob::through_regex(&long).is_match(&subject),
                "{:?} on {:?}", long, subject
            );
        }
    }

    #[test]
    fn long_literals_and_star_tails_need_no_regex() {
        let long = format!("{}.example", "a".repeat(80));
        for pattern in [long.clone(), format!("*.{long}")] {
            assert!(
                matches!(Glob::new(&pattern).0, Matcher::Wildcards(_)),
                "{pattern}"
            );
        }
        assert!(g(&long, &long));
        assert!(g(&format!("*.{long}"), &format!("x.{long}")));
        assert!(!g(&format!("*.{long}"), &format!("x.y.{long}")));
        let many = "?".repeat(MAX_WILDCARD_ELEMENTS + 1);
        assert!(matches!(Glob::new(&many).0, Matcher::Regex(_)));
        assert!(g(&many, &"a".repeat(MAX_WILDCARD_ELEMENTS + 1)));
    }

    #[test]
    fn malformed_globs_never_match() {
        assert!(!g("[a.com", "[a.com"));
        assert!(!g("{a,b.com", "a"));
        assert!(!g("a\\", "a\\"));
        assert!(!Glob::never().is_match(""));
    }
}
